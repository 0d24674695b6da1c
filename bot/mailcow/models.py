"""What mailcow's read endpoints return, as lenient pydantic models.

Lenient on purpose: unknown fields are ignored, and the same flag arrives as `1`, `"1"`, `true` or the
old `✔`/`✘` strings depending on mailcow and PHP version (SERVER-FACTS §3.3, §6 row 9), so every flag
and count goes through one of the shared validators below. Quotas and sizes are **bytes** on GET
(§4.1, §6 row 14). Models are frozen: the client caches and shares them between threads.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic.dataclasses import dataclass

_TRUE_MARKS = {"✔", "✓", "yes", "true", "on"}
_FALSE_MARKS = {"✘", "✕", "no", "false", "off", "", "-"}


def _to_int(value: Any) -> Any:
    """Ints as mailcow sends them: int, numeric string, bool, tick marks, or null/"" for 0."""
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_MARKS:
            return 1
        if text in _FALSE_MARKS:
            return 0
        try:
            return int(float(text))
        except ValueError:
            return value  # let pydantic report it
    return value


def _to_bool(value: Any) -> Any:
    converted = _to_int(value)
    return bool(converted) if isinstance(converted, int) else converted


def _lines(value: Any) -> Any:
    """fail2ban's white/blacklists come as one newline-joined string (§4.5)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


def _false_is_none(value: Any) -> Any:
    """PHP sends `false` where there is no object (e.g. `rl`, `ui` of last-login)."""
    return None if value is False or value == "" else value


def _text(value: Any) -> Any:
    return "" if value is None else str(value) if isinstance(value, int | float) else value


# Each type tries pydantic's own (lax) parsing first and calls the Python normaliser only when that
# fails: listing 50,000 mailboxes stays fast because well-formed values never leave pydantic-core.
Int = Annotated[int | Annotated[int, BeforeValidator(_to_int)], Field(union_mode="left_to_right")]
Flag = Annotated[bool | Annotated[bool, BeforeValidator(_to_bool)], Field(union_mode="left_to_right")]
Text = Annotated[str | Annotated[str, BeforeValidator(_text)], Field(union_mode="left_to_right")]
Lines = Annotated[list[str], BeforeValidator(_lines)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RateLimitValue(_Model):
    """A rate limit as embedded in domain and mailbox objects: `{"value":"10","frame":"s"}`."""

    value: Int = 0
    frame: str = ""


OptionalRateLimit = Annotated[RateLimitValue | None, BeforeValidator(_false_is_none)]


class Domain(_Model):
    domain_name: str
    domain_h_name: str = ""
    description: Text = ""
    active: Int = 0
    gal: Flag = False
    backupmx: Flag = False
    relay_all_recipients: Flag = False
    relay_unknown_only: Flag = False
    relayhost: Int = 0
    max_num_aliases_for_domain: Int = 0
    max_num_mboxes_for_domain: Int = 0
    aliases_in_domain: Int = 0
    aliases_left: Int = 0
    mboxes_in_domain: Int = 0
    mboxes_left: Int = 0
    def_quota_for_mbox: Int = 0
    max_quota_for_mbox: Int = 0
    max_quota_for_domain: Int = 0
    max_new_mailbox_quota: Int = 0
    def_new_mailbox_quota: Int = 0
    quota_used_in_domain: Int = 0
    """Bytes *allocated* to mailboxes (sum of their quotas), not bytes stored (§4.1)."""
    bytes_total: Int = 0
    msgs_total: Int = 0
    rl: OptionalRateLimit = None
    domain_admins: Text = ""
    tags: list[str] = Field(default_factory=list)
    created: Text = ""
    modified: Text = ""

    @property
    def is_active(self) -> bool:
        return self.active == 1


class Mailbox(_Model):
    username: str
    local_part: str = ""
    domain: str = ""
    name: Text = ""
    active: Int = 0
    """0 inactive, 1 active, 2 login disabled but mail still accepted (§4.2)."""
    quota: Int = 0
    """Bytes; 0 means unlimited."""
    quota_used: Int = 0
    percent_in_use: Int = 0
    """0 also for unlimited mailboxes (mailcow sends `"- "`)."""
    messages: Int = 0
    authsource: str = "mailcow"
    attributes: dict[str, Text] = Field(default_factory=dict)
    last_imap_login: Int = 0
    last_smtp_login: Int = 0
    last_pop3_login: Int = 0
    last_sso_login: Int = 0
    max_new_quota: Int = 0
    rl: OptionalRateLimit = None
    rl_scope: str = ""
    tags: list[str] = Field(default_factory=list)
    sender_acl: list[str] = Field(default_factory=list)
    created: Text = ""
    modified: Text = ""

    @property
    def last_login(self) -> int:
        """Most recent login over every protocol, unix time; 0 = never."""
        return max(self.last_imap_login, self.last_smtp_login, self.last_pop3_login, self.last_sso_login)

    @property
    def quota_mib(self) -> int:
        return self.quota // 1048576


@dataclass(frozen=True, slots=True)
class MailboxName:
    """What type-ahead keeps of a mailbox: about 250 bytes, where a full `Mailbox` (its attributes,
    rate limit and lists as objects) takes about 6 KB: 300 MB for 50,000 mailboxes."""

    username: str
    name: Text = ""
    domain: str = ""


class Alias(_Model):
    id: Int
    address: str
    domain: str = ""
    goto: Text = ""
    active: Int = 0
    sogo_visible: Flag = False
    sender_allowed: Flag = False
    internal: Flag = False
    is_catch_all: Flag = False
    in_primary_domain: Text = ""
    public_comment: Text = ""
    private_comment: Text = ""
    created: Text = ""
    modified: Text = ""

    def gotos(self) -> list[str]:
        return [g.strip() for g in self.goto.split(",") if g.strip()]


_RECIPIENT = re.compile(r"^(?P<address>\S+)\s+\((?P<reason>.*)\)$", re.DOTALL)


class QueueItem(_Model):
    queue_name: str
    queue_id: str
    arrival_time: Int = 0
    message_size: Int = 0
    sender: Text = ""
    recipients: list[str] = Field(default_factory=list)
    """As mailcow flattens them: `"addr"` or `"addr (delay reason)"` (§4.4)."""
    forced_expire: Flag = False

    def recipient_pairs(self) -> tuple[tuple[str, str | None], ...]:
        """`(address, reason)` for each recipient; reason is None when postfix gave none."""
        return self._recipient_pairs

    @cached_property
    def _recipient_pairs(self) -> tuple[tuple[str, str | None], ...]:
        # Parsed once per item: a queue summary reads them four times an item (top domains, top
        # reasons, the line, the CSV row), and cached items are rendered again on every command.
        # Safe to keep because the model is frozen.
        pairs: list[tuple[str, str | None]] = []
        for recipient in self.recipients:
            match = _RECIPIENT.match(recipient.strip())
            pairs.append((match["address"], match["reason"]) if match else (recipient.strip(), None))
        return tuple(pairs)


_DURATION = re.compile(r"(-?\d+)\s*h\s*(-?\d+)\s*m\s*(-?\d+)\s*s")


class ActiveBan(_Model):
    network: str
    ip: str = ""
    banned_until: str = ""
    """Remaining time as text, e.g. `"00h 28m 00s"`; may go negative just before netfilter purges it."""
    queued_for_unban: Flag = False

    def seconds_left(self) -> int | None:
        match = _DURATION.search(self.banned_until)
        if match is None:
            return None
        hours, minutes, seconds = (abs(int(part)) for part in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
        return -total if "-" in match.group(0) else total


def _perm_ban(value: Any) -> Any:
    """Old docs list perm bans as plain network strings; the server sends `{network, ip}` (§6 row 7)."""
    if isinstance(value, str):
        return {"network": value, "ip": value.split("/", 1)[0]}
    return value


class PermBan(_Model):
    network: str
    ip: str = ""


class Fail2ban(_Model):
    """`get/fail2ban`. Ban lists are absent when empty, options absent without netfilter data (§4.5)."""

    ban_time: Int = 0
    max_ban_time: Int = 0
    ban_time_increment: Flag = False
    max_attempts: Int = 0
    retry_window: Int = 0
    netban_ipv4: Int = 32
    netban_ipv6: Int = 128
    banlist_id: str = ""
    manage_external: Flag = False
    regex: dict[str, str] | None = None
    whitelist: Lines = Field(default_factory=list)
    blacklist: Lines = Field(default_factory=list)
    active_bans: list[ActiveBan] = Field(default_factory=list)
    perm_bans: list[Annotated[PermBan, BeforeValidator(_perm_ban)]] = Field(default_factory=list)


class LogEntry(BaseModel):
    """One line of any `get/logs/<type>`. Only `time` is common (string for syslog-fed logs, int for
    netfilter, `unix_time` for rspamd history, §4.6); every other field is kept as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)

    time: Int = 0
    priority: Text = ""
    program: Text = ""
    message: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _time_from_rspamd(cls, data: Any) -> Any:
        if isinstance(data, dict) and "time" not in data and "unix_time" in data:
            return {**data, "time": data["unix_time"]}
        return data

    def field(self, name: str) -> Any:
        """A field that is not declared (e.g. `rl_hash` of a ratelimited entry), or None."""
        return (self.model_extra or {}).get(name)


class QuarantineItem(_Model):
    id: Int
    qid: Text = ""
    subject: Text = ""
    sender: Text = ""
    rcpt: Text = ""
    score: float = 0.0
    action: Text = ""
    virus_flag: Int = 0
    created: Int = 0
    notified: Flag = False


class DkimKey(_Model):
    """`get/dkim/{domain}`; the private key is deliberately not modelled."""

    pubkey: str = ""
    length: Text = ""
    dkim_txt: str = ""
    dkim_selector: str = ""


class DomainAdmin(_Model):
    username: str
    active: Int = 0
    tfa_active: Flag = False
    created: Text = ""
    attributes: dict[str, Text] = Field(default_factory=dict)
    selected_domains: list[str] = Field(default_factory=list)
    unselected_domains: Annotated[list[str], BeforeValidator(lambda v: [] if v in ("", None) else v)] = Field(
        default_factory=list
    )


class SyncJob(_Model):
    """A sync job. `password1` is never kept even when an endpoint variant returns it (§4.10)."""

    id: Int
    user2: str = ""
    host1: str = ""
    port1: Int = 0
    enc1: str = ""
    user1: str = ""
    authmech1: Text = ""
    subfolder2: Text = ""
    exclude: Text = ""
    maxage: Int = 0
    mins_interval: Int = 0
    maxbytespersecond: Int = 0
    timeout1: Int = 0
    timeout2: Int = 0
    delete2duplicates: Flag = False
    delete1: Flag = False
    delete2: Flag = False
    automap: Flag = False
    skipcrossduplicates: Flag = False
    subscribeall: Flag = False
    dry: Flag = False
    custom_params: Text = ""
    is_running: Flag = False
    last_run: Text = ""
    success: Annotated[bool | None, BeforeValidator(lambda v: None if v is None else _to_bool(v))] = None
    exit_status: Text = ""
    active: Int = 0
    created: Text = ""
    modified: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _drop_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password1" in data:
            return {k: v for k, v in data.items() if k != "password1"}
        return data


class ForwardingHost(_Model):
    host: str
    source: Text = ""
    keep_spam: Flag = False


class BccMap(_Model):
    id: Int
    local_dest: str = ""
    bcc_dest: str = ""
    type: str = ""
    domain: Text = ""
    active: Int = 0
    created: Text = ""
    modified: Text = ""


class RecipientMap(_Model):
    id: Int
    recipient_map_old: str = ""
    recipient_map_new: str = ""
    active: Int = 0
    created: Text = ""
    modified: Text = ""


class TlsPolicyMap(_Model):
    """A TLS policy map; the by-id GET adds a stray `"0": null` key, ignored like any extra (§6 row 22)."""

    id: Int
    dest: str = ""
    policy: str = ""
    parameters: Text = ""
    active: Int = 0
    created: Text = ""
    modified: Text = ""


class DomainPolicy(_Model):
    """A spam allow/deny entry; `object` is the domain or a mailbox in it (§4.15)."""

    object: str
    value: str
    prefid: Int


class OAuth2Client(_Model):
    id: Int
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    redirect_uri: Text = ""
    grant_types: Text = ""
    scope: Text = ""
    user_id: Text = ""


class RateLimit(_Model):
    """An entry of `get/rl-mbox/all` (with `mailbox`) or `get/rl-domain/all` (with `domain`)."""

    value: Int = 0
    frame: str = ""
    mailbox: str | None = None
    domain: str | None = None

    @property
    def object(self) -> str:
        return self.mailbox or self.domain or ""


class ContainerStatus(_Model):
    name: str
    """The compose service name, e.g. `postfix-mailcow` (the key of `get/status/containers`)."""
    container: str = ""
    state: str = ""
    started_at: Text = ""
    image: Text = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


class VmailStatus(_Model):
    """`df -H` of the mail storage; values are text such as `"41G"` and `"28%"` (§4.19)."""

    disk: Text = ""
    used: Text = ""
    total: Text = ""
    used_percent: Text = ""


class PasswordPolicy(_Model):
    length: Int = 0
    chars: Flag = False
    special_chars: Flag = False
    lowerupper: Flag = False
    numbers: Flag = False


class UiLogin(_Model):
    remote: Text = ""
    time: Int = 0


class SaslLogin(_Model):
    service: Text = ""
    real_rip: Text = ""
    datetime: Text = ""
    app_password: Text = ""
    app_password_name: Text = ""
    location: Text = ""


class LastLogin(_Model):
    """`get/last-login/{mailbox}`: the last UI login (None if never) and recent SASL logins (§7)."""

    ui: Annotated[UiLogin | None, BeforeValidator(_false_is_none)] = None
    sasl: Annotated[list[SaslLogin], BeforeValidator(lambda v: [] if v in (None, False, {}) else v)] = Field(
        default_factory=list
    )
