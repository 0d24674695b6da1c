"""Every mailcow write as data: one pure builder per write endpoint, each returning an `ApiCall`.

Commands never call write endpoints themselves; they put `ApiCall`s into plans, which may wait in the
database for an approver and run later. So a builder must produce exactly what will run, refuse
anything mailcow would silently do wrong, and say which body fields are secret.

Body shapes are the server's, not the docs' (SERVER-FACTS §0.3): `add` takes a flat object, `edit`
takes `{"items": [...], "attr": {...}}`, `delete` takes a bare JSON array. Flags that mailcow defaults
to 0 when omitted are always sent (§8). Arguments that would turn into a silent no-op or a far bigger
change than asked raise `ValueError` with a sentence a person can act on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REDACTED = "••••"

QueueAction = Literal["flush", "hold", "unhold", "deliver", "super_delete"]
Fail2banAction = Literal["unban", "whitelist", "blacklist"]
QuarantineAction = Literal["release", "learnspam"]
NotifyFrequency = Literal["never", "hourly", "daily", "weekly"]
RateFrame = Literal["s", "m", "h", "d"]
BccType = Literal["sender", "rcpt"]
PolicyList = Literal["wl", "bl"]
SpecialGoto = Literal["discard", "spam", "ham"]
Encryption = Literal["TLS", "SSL", "PLAIN"]
TlsPolicy = Literal["none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure"]
"""The DB enum of `tls_policy_override.policy` (SERVER-FACTS §4.14); PHP does not validate it."""

PROTOCOLS = ("imap", "pop3", "smtp", "sieve", "eas", "dav")
DKIM_KEY_SIZES = (1024, 2048, 3072, 4096)

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_LOCAL_PART = re.compile(r"^[^@\s,;:<>()\[\]\\\"]+$")
_QUEUE_ID = re.compile(r"^[0-9A-Fa-f]+$")
_NUMERIC = re.compile(r"^[0-9]+$")
_ADMIN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DKIM_SELECTOR = re.compile(r"^[A-Za-z0-9_.-]+$")
_POLICY_SENDER = re.compile(r"^[A-Za-z0-9@_.*-]+$")
_TLS_PARAMETER = re.compile(r"^[A-Za-z0-9_]+=\S+$")
_SPECIAL_GOTO = {"discard": "goto_null", "spam": "goto_spam", "ham": "goto_ham"}


class ApiCall(BaseModel):
    """One mailcow write, serialisable so a plan can be stored and run after approval.

    `target` is what a person reads ("alice@example.org", "3 queue items"); `expect` the success key
    this endpoint normally answers, so the client can tell a generic "Task completed" (mailcow did
    nothing, SERVER-FACTS §3.1) from real success; `slow` marks docker-backed endpoints that may take
    up to 60 s (§5.1). `secret_fields` are body keys to redact wherever the call is shown or stored;
    `repr()` already shows the redacted body.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["add", "edit", "delete"]
    category: str
    body: Any
    target: str
    expect: str | None = None
    secret_fields: list[str] = Field(default_factory=list)
    slow: bool = False

    @property
    def path(self) -> str:
        """The route under /api/v1/, also used as the endpoint label in logs and metrics."""
        return f"{self.action}/{self.category}"

    def describe(self) -> str:
        return f"POST /api/v1/{self.path}"

    def redacted_body(self) -> Any:
        return _redact(self.body, frozenset(self.secret_fields))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, self.redacted_body() if name == "body" else value


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k in secrets else _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


# --- argument checks -------------------------------------------------------------------------------


def _list(values: str | Iterable[str], what: str) -> list[str]:
    """A non-empty list without duplicates; a bare string counts as one item."""
    raw = [values] if isinstance(values, str) else list(values)
    items = list(dict.fromkeys(str(v).strip() for v in raw if str(v).strip()))
    if not items:
        raise ValueError(f"name at least one {what}")
    return items


def _domain(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a valid domain name") from None
    if not _DOMAIN.match(name):
        raise ValueError(f"{value!r} is not a valid domain name")
    return name


def _address(value: str) -> str:
    local, sep, domain = value.strip().rpartition("@")
    if not sep or not _LOCAL_PART.match(local):
        raise ValueError(f"{value!r} is not an e-mail address")
    return f"{local.lower()}@{_domain(domain)}"


def _ids(values: str | int | Iterable[str | int], what: str) -> list[str]:
    """Numeric database ids; mailcow aborts or half-runs on anything else (§4.10, §4.16)."""
    raw: Iterable[str | int] = [values] if isinstance(values, str | int) else values
    items = _list((str(v) for v in raw), what)
    bad = [i for i in items if not _NUMERIC.match(i)]
    if bad:
        raise ValueError(f"{what} ids are numbers; {', '.join(bad)} is not")
    return items


def _queue_ids(values: str | Iterable[str]) -> list[str]:
    """Postfix short ids. dockerapi drops anything else silently and then runs `postsuper` with no
    arguments, still reporting success (§4.4), so a wrong id must be refused here."""
    items = _list(values, "queue id")
    bad = [i for i in items if not _QUEUE_ID.match(i)]
    if bad:
        raise ValueError(f"queue ids are hexadecimal (like 4B1C2D3E4F); {', '.join(bad)} is not")
    return [i.upper() for i in items]


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network") from None


def _flag(value: bool) -> int:
    return 1 if value else 0


def _target(items: Sequence[str], noun: str) -> str:
    if len(items) <= 3:
        return ", ".join(items)
    return f"{len(items)} {noun} ({', '.join(items[:2])}, …)"


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    """The `attr` of an edit: only what was given. An empty attr makes mailcow answer a generic
    success having changed nothing (§2.2), so it is refused."""
    attr = {k: v for k, v in values.items() if v is not None}
    if not attr:
        raise ValueError("nothing to change: give at least one setting")
    return attr


def _bool_attrs(**flags: bool | None) -> dict[str, int | None]:
    return {k: None if v is None else _flag(v) for k, v in flags.items()}


def _edit(
    category: str, items: list[str], attr: dict[str, Any], *, target: str, expect: str, **kw: Any
) -> ApiCall:
    return ApiCall(
        action="edit",
        category=category,
        body={"items": items, "attr": attr},
        target=target,
        expect=expect,
        **kw,
    )


def _delete(category: str, items: list[str], *, target: str, expect: str, slow: bool = False) -> ApiCall:
    return ApiCall(action="delete", category=category, body=items, target=target, expect=expect, slow=slow)


def _delete_numbered(
    category: str, ids: str | int | Sequence[str | int], noun: str, plural: str, *, expect: str
) -> ApiCall:
    """Delete objects mailcow knows by number: the target reads e.g. `BCC map 3, 7`."""
    items = _ids(ids, noun)
    return _delete(category, items, target=f"{noun} {_target(items, plural)}", expect=expect)


def _quota(value: int, what: str, *, allow_zero: bool = False) -> int:
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'0 (unlimited) or more' if allow_zero else 'at least 1'} MiB")
    return value


def _rate_limit(value: int, frame: str) -> dict[str, Any]:
    if value < 0:
        raise ValueError("a rate limit is 0 (remove it) or a positive number of messages")
    if frame not in ("s", "m", "h", "d"):
        raise ValueError("the rate-limit time frame is s, m, h or d")
    return {"rl_value": value, "rl_frame": frame}


def _comment(value: str | None, what: str) -> str | None:
    if value is not None and len(value) > 160:
        raise ValueError(f"the {what} comment is limited to 160 characters")
    return value


# --- domains (§4.1) --------------------------------------------------------------------------------


def add_domain(
    domain: str,
    *,
    description: str | None = None,
    aliases: int | None = None,
    mailboxes: int | None = None,
    default_quota_mib: int | None = None,
    max_quota_mib: int | None = None,
    quota_mib: int | None = None,
    active: bool = True,
    gal: bool | None = None,
    backupmx: bool | None = None,
    relay_all_recipients: bool | None = None,
    relay_unknown_only: bool | None = None,
    tags: Sequence[str] = (),
    rl_value: int | None = None,
    rl_frame: RateFrame | None = None,
    dkim_key_size: int | None = None,
    dkim_selector: str | None = None,
    restart_sogo: bool = False,
) -> ApiCall:
    """`add/domain`. Limits left out come from mailcow's domain template; quotas are MiB.

    mailcow creates a DKIM key with the domain unless `dkim_key_size=0`. `restart_sogo` restarts the
    SOGo container through dockerapi, which makes the call slow.
    """
    name = _domain(domain)
    quotas = {
        "default quota": default_quota_mib,
        "maximum mailbox quota": max_quota_mib,
        "domain quota": quota_mib,
    }
    for what, value in quotas.items():
        if value is not None:
            _quota(value, what)
    if default_quota_mib and max_quota_mib and default_quota_mib > max_quota_mib:
        raise ValueError("the default mailbox quota cannot be above the maximum mailbox quota")
    if max_quota_mib and quota_mib and max_quota_mib > quota_mib:
        raise ValueError("the maximum mailbox quota cannot be above the domain quota")
    if len(tags) > 25:
        raise ValueError("a domain takes at most 25 tags")
    if dkim_key_size not in (None, 0, *DKIM_KEY_SIZES):
        raise ValueError(
            f"the DKIM key size is one of {', '.join(map(str, DKIM_KEY_SIZES))} (or 0 for no key)"
        )
    if dkim_selector is not None and not _DKIM_SELECTOR.match(dkim_selector):
        raise ValueError("a DKIM selector is letters, digits, '-', '_' and '.'")
    body: dict[str, Any] = {"domain": name, "active": _flag(active)}
    optional: dict[str, Any] = {
        "description": description,
        "aliases": aliases,
        "mailboxes": mailboxes,
        "defquota": default_quota_mib,
        "maxquota": max_quota_mib,
        "quota": quota_mib,
        **_bool_attrs(
            gal=gal,
            backupmx=backupmx,
            relay_all_recipients=relay_all_recipients,
            relay_unknown_only=relay_unknown_only,
        ),
        "tags": list(tags) or None,
        "key_size": dkim_key_size,
        "dkim_selector": dkim_selector,
        "restart_sogo": 1 if restart_sogo else None,
    }
    if (rl_value is None) != (rl_frame is None):
        raise ValueError("a domain rate limit needs both a value and a time frame")
    if rl_value is not None and rl_frame is not None:
        optional.update(_rate_limit(rl_value, rl_frame))
    body.update({k: v for k, v in optional.items() if v is not None})
    return ApiCall(
        action="add", category="domain", body=body, target=name, expect="domain_added", slow=restart_sogo
    )


def edit_domain(
    domains: str | Sequence[str],
    *,
    description: str | None = None,
    aliases: int | None = None,
    mailboxes: int | None = None,
    default_quota_mib: int | None = None,
    max_quota_mib: int | None = None,
    quota_mib: int | None = None,
    active: bool | None = None,
    gal: bool | None = None,
    backupmx: bool | None = None,
    relay_all_recipients: bool | None = None,
    relay_unknown_only: bool | None = None,
    relayhost: int | None = None,
    tags: Sequence[str] | None = None,
) -> ApiCall:
    """`edit/domain`. Only the given settings change. Tags are *added* to the existing ones.

    The domain rate limit is not an edit/domain setting (§4.1): use `edit_rl_domain`.
    """
    names = [_domain(d) for d in _list(domains, "domain")]
    for what, value in {
        "alias limit": aliases,
        "maximum mailbox quota": max_quota_mib,
        "domain quota": quota_mib,
    }.items():
        if value == 0:
            raise ValueError(f"mailcow ignores a {what} of 0 and keeps the old value; give a positive number")
    for what, value in {"mailbox limit": mailboxes, "default quota": default_quota_mib}.items():
        if value is not None and value < 0:
            raise ValueError(f"the {what} cannot be negative")
    attr = _attrs(
        {
            "description": description,
            "aliases": aliases,
            "mailboxes": mailboxes,
            "defquota": default_quota_mib,
            "maxquota": max_quota_mib,
            "quota": quota_mib,
            **_bool_attrs(
                active=active,
                gal=gal,
                backupmx=backupmx,
                relay_all_recipients=relay_all_recipients,
                relay_unknown_only=relay_unknown_only,
            ),
            "relayhost": relayhost,
            "tags": list(tags) if tags else None,
        }
    )
    return _edit("domain", names, attr, target=_target(names, "domains"), expect="domain_modified")


def delete_domains(domains: str | Sequence[str]) -> ApiCall:
    """`delete/domain`. mailcow refuses a domain that still has mailboxes; docker-backed (maildir GC)."""
    names = [_domain(d) for d in _list(domains, "domain")]
    return _delete("domain", names, target=_target(names, "domains"), expect="domain_removed", slow=True)


# --- domain spam policies (§4.15) ------------------------------------------------------------------


def add_domain_policy(domain: str, list_type: PolicyList, sender: str) -> ApiCall:
    """`add/domain-policy`: allow (`wl`) or deny (`bl`) a sender pattern such as `*@spam.tld`."""
    if list_type not in ("wl", "bl"):
        raise ValueError("the policy list is wl (allow) or bl (deny)")
    pattern = sender.strip()
    if not _POLICY_SENDER.match(pattern):
        raise ValueError("a sender pattern is letters, digits and @ _ . - * (e.g. *@example.net)")
    name = _domain(domain)
    body = {"domain": name, "object_list": list_type, "object_from": pattern}
    return ApiCall(
        action="add",
        category="domain-policy",
        body=body,
        target=f"{pattern} on {name}",
        expect="domain_modified",
    )


def delete_domain_policies(prefids: str | int | Sequence[str | int]) -> ApiCall:
    ids = _ids(prefids, "policy")
    return _delete("domain-policy", ids, target=_target(ids, "policies"), expect="item_deleted")


# --- mailboxes (§4.2) ------------------------------------------------------------------------------


def add_mailbox(
    address: str,
    *,
    password: str,
    quota_mib: int,
    name: str = "",
    active: Literal[0, 1, 2] = 1,
    force_pw_update: bool = False,
    tags: Sequence[str] = (),
    authsource: str | None = None,
) -> ApiCall:
    """`add/mailbox`. `quota_mib` is required because an omitted quota means *unlimited* (§0.9);
    pass 0 for that on purpose. `active=2` lets the mailbox receive mail without logins."""
    mailbox = _address(address)
    local_part, _, domain = mailbox.partition("@")
    _quota(quota_mib, "the mailbox quota", allow_zero=True)
    if active not in (0, 1, 2):
        raise ValueError("active is 0, 1 or 2 (receive only)")
    external = authsource not in (None, "mailcow")
    if not password and not external:
        raise ValueError("a mailcow mailbox needs a password")
    body: dict[str, Any] = {
        "local_part": local_part,
        "domain": domain,
        "name": name,
        "quota": quota_mib,
        "active": active,
        "force_pw_update": _flag(force_pw_update),
        "password": password,
        "password2": password,
    }
    if tags:
        body["tags"] = list(tags)
    if authsource is not None:
        body["authsource"] = authsource
    return ApiCall(
        action="add",
        category="mailbox",
        body=body,
        target=mailbox,
        expect="mailbox_added",
        secret_fields=["password", "password2"],
    )


def edit_mailbox(
    addresses: str | Sequence[str],
    *,
    name: str | None = None,
    quota_mib: int | None = None,
    active: Literal[0, 1, 2] | None = None,
    force_pw_update: bool | None = None,
    force_tfa: bool | None = None,
    sogo_access: bool | None = None,
    protocol_access: Sequence[str] | None = None,
    sender_acl: Sequence[str] | None = None,
    relayhost: int | None = None,
    tags: Sequence[str] | None = None,
) -> ApiCall:
    """`edit/mailbox` for anything but the password (see `set_mailbox_password`).

    `protocol_access` replaces all protocol flags at once (missing protocols are turned off);
    tags are added, not replaced.
    """
    mailboxes = [_address(a) for a in _list(addresses, "mailbox")]
    if quota_mib is not None:
        _quota(quota_mib, "the mailbox quota", allow_zero=True)
    if active not in (None, 0, 1, 2):
        raise ValueError("active is 0, 1 or 2 (receive only)")
    if protocol_access is not None:
        unknown = sorted(set(protocol_access) - set(PROTOCOLS))
        if unknown:
            raise ValueError(f"unknown protocol {', '.join(unknown)}; known: {', '.join(PROTOCOLS)}")
    attr = _attrs(
        {
            "name": name,
            "quota": quota_mib,
            "active": active,
            **_bool_attrs(force_pw_update=force_pw_update, force_tfa=force_tfa, sogo_access=sogo_access),
            "protocol_access": list(protocol_access) if protocol_access is not None else None,
            "sender_acl": list(sender_acl) if sender_acl is not None else None,
            "relayhost": relayhost,
            "tags": list(tags) if tags else None,
        }
    )
    return _edit(
        "mailbox", mailboxes, attr, target=_target(mailboxes, "mailboxes"), expect="mailbox_modified"
    )


def set_mailbox_password(address: str, password: str, *, force_pw_update: bool) -> ApiCall:
    """`edit/mailbox` with `password` and `password2` (both are needed, §4.2).

    `force_pw_update` is explicit because setting a password does not clear it by itself. For LDAP/OIDC
    mailboxes mailcow ignores the password while still reporting success.
    """
    if not password:
        raise ValueError("the new password is empty")
    mailbox = _address(address)
    attr = {"password": password, "password2": password, "force_pw_update": _flag(force_pw_update)}
    return _edit(
        "mailbox",
        [mailbox],
        attr,
        target=mailbox,
        expect="mailbox_modified",
        secret_fields=["password", "password2"],
    )


def delete_mailboxes(addresses: str | Sequence[str]) -> ApiCall:
    """`delete/mailbox`. Removes the mail too (maildir moved to mailcow's garbage collector via dockerapi)."""
    mailboxes = [_address(a) for a in _list(addresses, "mailbox")]
    return _delete(
        "mailbox", mailboxes, target=_target(mailboxes, "mailboxes"), expect="mailbox_removed", slow=True
    )


def edit_quarantine_notification(mailboxes: str | Sequence[str], frequency: NotifyFrequency) -> ApiCall:
    if frequency not in ("never", "hourly", "daily", "weekly"):
        raise ValueError("quarantine notifications are never, hourly, daily or weekly")
    names = [_address(a) for a in _list(mailboxes, "mailbox")]
    return _edit(
        "quarantine_notification",
        names,
        {"quarantine_notification": frequency},
        target=_target(names, "mailboxes"),
        expect="mailbox_modified",
    )


# --- aliases (§4.3) --------------------------------------------------------------------------------


def _alias_address(value: str) -> str:
    text = value.strip()
    return "@" + _domain(text[1:]) if text.startswith("@") else _address(text)


def _goto(goto: str | Sequence[str] | None, special: SpecialGoto | None) -> dict[str, Any]:
    if special is not None:
        if special not in _SPECIAL_GOTO:
            raise ValueError("a special destination is discard, spam or ham")
        if goto:
            raise ValueError("give either destinations or a special destination, not both")
        return {_SPECIAL_GOTO[special]: 1}
    if goto is None:
        return {}
    raw = re.split(r"[\s,;]+", goto) if isinstance(goto, str) else list(goto)
    return {"goto": ",".join(_address(g) for g in _list(raw, "destination"))}


def add_alias(
    address: str,
    goto: str | Sequence[str] | None = None,
    *,
    special: SpecialGoto | None = None,
    active: bool = True,
    sogo_visible: bool = True,
    sender_allowed: bool | None = None,
    public_comment: str | None = None,
    private_comment: str | None = None,
) -> ApiCall:
    """`add/alias`. `active` and `sogo_visible` are always sent: omitted, mailcow stores 0 and the alias
    silently does nothing (§0.9). `@domain.tld` is a catch-all. `special` discards or learns mail."""
    alias = _alias_address(address)
    target = _goto(goto, special)
    if not target:
        raise ValueError("an alias needs destinations or a special destination")
    if alias in target.get("goto", "").split(","):
        raise ValueError("an alias cannot point to itself (mailcow would skip it without a word)")
    body: dict[str, Any] = {
        "address": alias,
        **target,
        "active": _flag(active),
        "sogo_visible": _flag(sogo_visible),
    }
    if sender_allowed is not None:
        body["sender_allowed"] = _flag(sender_allowed)
    for key, value in {"public_comment": public_comment, "private_comment": private_comment}.items():
        if _comment(value, key.split("_")[0]) is not None:
            body[key] = value
    return ApiCall(action="add", category="alias", body=body, target=alias, expect="alias_added")


def edit_alias(
    aliases: str | int | Sequence[str | int],
    *,
    goto: str | Sequence[str] | None = None,
    special: SpecialGoto | None = None,
    address: str | None = None,
    active: bool | None = None,
    sogo_visible: bool | None = None,
    sender_allowed: bool | None = None,
    public_comment: str | None = None,
    private_comment: str | None = None,
) -> ApiCall:
    """`edit/alias` by id or address. mailcow resets the discard/spam/ham flags to 0 on every edit
    (§4.3): when editing such an alias, pass `special` again or the edit is silently dropped."""
    raw = [aliases] if isinstance(aliases, str | int) else list(aliases)
    items = _list((str(a) for a in raw), "alias")
    items = [i if _NUMERIC.match(i) else _alias_address(i) for i in items]
    attr = _attrs(
        {
            **_goto(goto, special),
            "address": _alias_address(address) if address is not None else None,
            **_bool_attrs(active=active, sogo_visible=sogo_visible, sender_allowed=sender_allowed),
            "public_comment": _comment(public_comment, "public"),
            "private_comment": _comment(private_comment, "private"),
        }
    )
    return _edit("alias", items, attr, target=_target(items, "aliases"), expect="alias_modified")


def delete_aliases(aliases: str | int | Sequence[str | int]) -> ApiCall:
    raw = [aliases] if isinstance(aliases, str | int) else list(aliases)
    items = [i if _NUMERIC.match(i) else _alias_address(i) for i in _list((str(a) for a in raw), "alias")]
    return _delete("alias", items, target=_target(items, "aliases"), expect="alias_removed")


# --- sync jobs (§4.10) -----------------------------------------------------------------------------


def _syncjob_attrs(
    *,
    host: str | None,
    port: int | None,
    encryption: Encryption | None,
    interval_minutes: int | None,
    max_age_days: int | None,
    custom_params: str | None,
) -> None:
    if host is not None and not host.strip():
        raise ValueError("the source IMAP host is empty")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the IMAP port is between 1 and 65535")
    if encryption is not None and encryption not in ("TLS", "SSL", "PLAIN"):
        raise ValueError("the encryption is TLS, SSL or PLAIN")
    if interval_minutes is not None and not 1 <= interval_minutes <= 43800:
        raise ValueError("the sync interval is between 1 and 43800 minutes")
    if max_age_days is not None and not 0 <= max_age_days <= 32000:
        raise ValueError("the maximum age is between 0 (no limit) and 32000 days")
    if custom_params and " " in custom_params.strip():
        raise ValueError("mailcow refuses custom imapsync parameters containing spaces")


def add_syncjob(
    mailbox: str,
    *,
    host: str,
    user: str,
    password: str,
    port: int = 993,
    encryption: Encryption = "SSL",
    interval_minutes: int = 20,
    subfolder: str = "External",
    exclude: str = "(?i)spam|(?i)junk",
    max_age_days: int = 0,
    delete_duplicates: bool = True,
    delete_from_source: bool = False,
    delete_from_destination: bool = False,
    automap: bool = True,
    skip_cross_duplicates: bool = False,
    subscribe_all: bool = True,
    dry_run: bool = False,
    active: bool = True,
    custom_params: str = "",
) -> ApiCall:
    """`add/syncjob` (imapsync from `host` into `mailbox`). Every 0/1 flag is sent because mailcow
    defaults all of them, `active` included, to 0 (§4.10). `password1` is secret: mailcow's answer
    echoes it unmasked in its `log` field."""
    _syncjob_attrs(
        host=host,
        port=port,
        encryption=encryption,
        interval_minutes=interval_minutes,
        max_age_days=max_age_days,
        custom_params=custom_params,
    )
    if not user or not password:
        raise ValueError("a sync job needs the source user and password")
    owner = _address(mailbox)
    body = {
        "username": owner,
        "host1": host.strip(),
        "port1": port,
        "user1": user,
        "password1": password,
        "enc1": encryption,
        "mins_interval": interval_minutes,
        "subfolder2": subfolder,
        "exclude": exclude,
        "maxage": max_age_days,
        "custom_params": custom_params,
        "delete2duplicates": _flag(delete_duplicates),
        "delete1": _flag(delete_from_source),
        "delete2": _flag(delete_from_destination),
        "automap": _flag(automap),
        "skipcrossduplicates": _flag(skip_cross_duplicates),
        "subscribeall": _flag(subscribe_all),
        "dry": _flag(dry_run),
        "active": _flag(active),
    }
    return ApiCall(
        action="add",
        category="syncjob",
        body=body,
        target=f"{user} on {host.strip()} → {owner}",
        expect="mailbox_modified",
        secret_fields=["password1"],
    )


def edit_syncjob(
    ids: str | int | Sequence[str | int],
    *,
    active: bool | None = None,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    encryption: Encryption | None = None,
    interval_minutes: int | None = None,
    subfolder: str | None = None,
    exclude: str | None = None,
    max_age_days: int | None = None,
) -> ApiCall:
    _syncjob_attrs(
        host=host,
        port=port,
        encryption=encryption,
        interval_minutes=interval_minutes,
        max_age_days=max_age_days,
        custom_params=None,
    )
    items = _ids(ids, "sync job")
    attr = _attrs(
        {
            "active": None if active is None else _flag(active),
            "host1": host.strip() if host is not None else None,
            "port1": port,
            "user1": user,
            "password1": password,
            "enc1": encryption,
            "mins_interval": interval_minutes,
            "subfolder2": subfolder,
            "exclude": exclude,
            "maxage": max_age_days,
        }
    )
    return _edit(
        "syncjob",
        items,
        attr,
        target="sync job " + _target(items, "sync jobs"),
        expect="mailbox_modified",
        secret_fields=["password1"],
    )


def delete_syncjobs(ids: str | int | Sequence[str | int]) -> ApiCall:
    """`delete/syncjob`. Numeric ids only: one non-numeric id aborts the whole request (§4.10)."""
    return _delete_numbered("syncjob", ids, "sync job", "sync jobs", expect="deleted_syncjob")


# --- forwarding hosts (§4.11) ----------------------------------------------------------------------


def add_fwdhost(hostname: str, *, filter_spam: bool = False) -> ApiCall:
    """`add/fwdhost`. A hostname is resolved by mailcow into one entry per IP (listed with `source`)."""
    host = hostname.strip().lower()
    if not host or any(c.isspace() for c in host):
        raise ValueError("give one host name, IP address or network")
    return ApiCall(
        action="add",
        category="fwdhost",
        body={"hostname": host, "filter_spam": _flag(filter_spam)},
        target=host,
        expect="forwarding_host_added",
    )


def _fwdhost_keys(hosts: str | Sequence[str]) -> list[str]:
    """Forwarding hosts are keyed by the IP/CIDR that GET lists, never by the hostname (§4.11)."""
    items = _list(hosts, "forwarding host")
    for item in items:
        _network(item)
    return items


def edit_fwdhost(hosts: str | Sequence[str], *, keep_spam: bool) -> ApiCall:
    items = _fwdhost_keys(hosts)
    return _edit(
        "fwdhost",
        items,
        {"keep_spam": _flag(keep_spam)},
        target=_target(items, "hosts"),
        expect="object_modified",
    )


def delete_fwdhosts(hosts: str | Sequence[str]) -> ApiCall:
    items = _fwdhost_keys(hosts)
    return _delete("fwdhost", items, target=_target(items, "hosts"), expect="forwarding_host_removed")


# --- mail queue (§4.4) -----------------------------------------------------------------------------


def edit_mailq(action: QueueAction, qids: str | Sequence[str] = ()) -> ApiCall:
    """`edit/mailq` with `{"items": [...], "attr": {"action": ...}}` (SERVER-FACTS §0.7).

    `hold`, `unhold` (release from hold) and `deliver` act on the listed ids. `flush` and
    `super_delete` always act on the **whole** queue and ignore ids, so ids are refused with them
    (use `deliver` or `delete_mailq` for single messages). The documented `{"action": "flush"}` body
    is a no-op that reports success; it is never built.
    """
    if action in ("flush", "super_delete"):
        if qids:
            raise ValueError(f"{action} always acts on the whole queue; it takes no queue ids")
        items: list[str] = []
        target = "the whole mail queue"
    elif action in ("hold", "unhold", "deliver"):
        items = _queue_ids(qids)
        target = _target(items, "queue items")
    else:
        raise ValueError("the queue action is flush, hold, unhold, deliver or super_delete")
    return _edit("mailq", items, {"action": action}, target=target, expect="queue_command_success", slow=True)


def delete_mailq(qids: str | Sequence[str]) -> ApiCall:
    """`delete/mailq` with a bare list: deletes exactly the listed messages (§4.4)."""
    items = _queue_ids(qids)
    return _delete(
        "mailq", items, target=_target(items, "queue items"), expect="queue_command_success", slow=True
    )


# --- fail2ban (§4.5) -------------------------------------------------------------------------------


def edit_fail2ban(action: Fail2banAction, networks: str | Sequence[str]) -> ApiCall:
    """`edit/fail2ban` quick action on the given networks.

    An empty list would make mailcow rewrite the whole fail2ban configuration, resetting
    `ban_time_increment` and `manage_external` (§0.8), so it raises. `unban` needs the network exactly
    as `active_bans[].network` lists it (`1.2.3.4/32`): a bare IP is accepted by mailcow and then
    ignored by netfilter. Effects are asynchronous (about 10 s for unban, 60 s for the lists).
    """
    if action not in ("unban", "whitelist", "blacklist"):
        raise ValueError("the fail2ban action is unban, whitelist or blacklist")
    items = _list(networks, "IP address or network")
    for item in items:
        network = _network(item)
        if action == "unban" and "/" not in item:
            raise ValueError(
                f"unban takes the banned network as listed (e.g. {item}/32), not the bare IP {item}"
            )
        if action == "blacklist" and (network.prefixlen == 0 or network.network_address.is_unspecified):
            raise ValueError(f"{item} would block everyone; mailcow refuses it")
    return _edit(
        "fail2ban", items, {"action": action}, target=_target(items, "networks"), expect="object_modified"
    )


# --- DKIM (§4.8) -----------------------------------------------------------------------------------


def add_dkim(domains: str | Sequence[str], *, selector: str = "dkim", key_size: int = 2048) -> ApiCall:
    """`add/dkim`. `domains` goes out as one space-separated **string**: a JSON list crashes the
    handler (§4.8). An existing key is not overwritten (mailcow answers a danger)."""
    names = [_domain(d) for d in _list(domains, "domain")]
    if key_size not in DKIM_KEY_SIZES:
        raise ValueError(f"the DKIM key size is one of {', '.join(map(str, DKIM_KEY_SIZES))}")
    if not _DKIM_SELECTOR.match(selector):
        raise ValueError("a DKIM selector is letters, digits, '-', '_' and '.'")
    body = {"domains": " ".join(names), "dkim_selector": selector, "key_size": key_size}
    return ApiCall(
        action="add", category="dkim", body=body, target=_target(names, "domains"), expect="dkim_added"
    )


def duplicate_dkim(from_domain: str, to_domains: str | Sequence[str]) -> ApiCall:
    """`add/dkim_duplicate` (key `from_domain`, not the docs' `fron_domain`). Overwrites the targets' keys."""
    source = _domain(from_domain)
    targets = [_domain(d) for d in _list(to_domains, "target domain")]
    if source in targets:
        raise ValueError("the source and target domain are the same")
    body = {"from_domain": source, "to_domain": targets}
    return ApiCall(
        action="add",
        category="dkim_duplicate",
        body=body,
        target=f"{source} → {_target(targets, 'domains')}",
        expect="dkim_duplicated",
    )


def delete_dkim(domains: str | Sequence[str]) -> ApiCall:
    names = [_domain(d) for d in _list(domains, "domain")]
    return _delete("dkim", names, target=_target(names, "domains"), expect="dkim_removed")


# --- domain administrators (§4.9) ------------------------------------------------------------------


def _admin_name(value: str) -> str:
    name = value.strip()
    if not _ADMIN_NAME.match(name) or name.lower() == "api":
        raise ValueError(
            f"{value!r} is not a valid domain administrator name (letters, digits, _ . -; not API)"
        )
    return name


def add_domain_admin(
    username: str, password: str, domains: str | Sequence[str], *, active: bool = True
) -> ApiCall:
    """`add/domain-admin`. `domains` is always a list (a comma string becomes one invalid name) and
    `active` is explicit (omitted means 0, §4.9)."""
    if not password:
        raise ValueError("a domain administrator needs a password")
    name = _admin_name(username)
    names = [_domain(d) for d in _list(domains, "domain")]
    body = {
        "username": name,
        "password": password,
        "password2": password,
        "domains": names,
        "active": _flag(active),
    }
    return ApiCall(
        action="add",
        category="domain-admin",
        body=body,
        target=name,
        expect="domain_admin_added",
        secret_fields=["password", "password2"],
    )


def edit_domain_admin(
    usernames: str | Sequence[str],
    *,
    force_tfa: bool,
    force_pw_update: bool,
    active: bool | None = None,
    domains: Sequence[str] | None = None,
    password: str | None = None,
) -> ApiCall:
    """`edit/domain-admin`. `force_tfa` and `force_pw_update` are required because mailcow resets them
    to 0 on every edit that leaves them out (§4.9). `domains` replaces the whole set."""
    names = [_admin_name(u) for u in _list(usernames, "domain administrator")]
    attr: dict[str, Any] = {"force_tfa": _flag(force_tfa), "force_pw_update": _flag(force_pw_update)}
    if active is not None:
        attr["active"] = _flag(active)
    if domains is not None:
        attr["domains"] = [_domain(d) for d in _list(domains, "domain")]
    secrets: list[str] = []
    if password is not None:
        if not password:
            raise ValueError("the new password is empty")
        attr.update(password=password, password2=password)
        secrets = ["password", "password2"]
    return _edit(
        "domain-admin",
        names,
        attr,
        target=_target(names, "administrators"),
        expect="domain_admin_modified",
        secret_fields=secrets,
    )


def delete_domain_admins(usernames: str | Sequence[str]) -> ApiCall:
    names = [_admin_name(u) for u in _list(usernames, "domain administrator")]
    return _delete(
        "domain-admin", names, target=_target(names, "administrators"), expect="domain_admin_removed"
    )


# --- BCC, recipient and TLS policy maps (§4.12-4.14) -----------------------------------------------


def _address_or_domain(value: str) -> str:
    text = value.strip().lstrip("@")
    return _address(text) if "@" in text else _domain(text)


def add_bcc(local_dest: str, bcc_dest: str, kind: BccType, *, active: bool = True) -> ApiCall:
    """`add/bcc`: copy mail sent (`sender`) or received (`rcpt`) by `local_dest` (a domain or an
    existing address) to `bcc_dest`. `active` is explicit (omitted means 0)."""
    if kind not in ("sender", "rcpt"):
        raise ValueError("the BCC map type is sender or rcpt")
    source = _address_or_domain(local_dest)
    body = {"local_dest": source, "bcc_dest": _address(bcc_dest), "type": kind, "active": _flag(active)}
    return ApiCall(action="add", category="bcc", body=body, target=f"{source} ({kind})", expect="bcc_saved")


def delete_bcc_maps(ids: str | int | Sequence[str | int]) -> ApiCall:
    return _delete_numbered("bcc", ids, "BCC map", "maps", expect="bcc_deleted")


def add_recipient_map(old: str, new: str, *, active: bool = True) -> ApiCall:
    """`add/recipient_map`: rewrite recipient `old` (address or domain) to `new`."""
    source, dest = _address_or_domain(old), _address_or_domain(new)
    body = {"recipient_map_old": source, "recipient_map_new": dest, "active": _flag(active)}
    return ApiCall(
        action="add",
        category="recipient_map",
        body=body,
        target=f"{source} → {dest}",
        expect="recipient_map_entry_saved",
    )


def delete_recipient_maps(ids: str | int | Sequence[str | int]) -> ApiCall:
    return _delete_numbered(
        "recipient_map", ids, "recipient map", "maps", expect="recipient_map_entry_deleted"
    )


def add_tls_policy_map(dest: str, policy: TlsPolicy, *, parameters: str = "", active: bool = True) -> ApiCall:
    """`add/tls-policy-map`. mailcow does not check `policy` (only the DB enum does), so it is checked
    here against the enum incl. `dane-only` (§4.14). `parameters` are space-separated `key=value`."""
    if policy not in ("none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure"):
        raise ValueError(
            "the TLS policy is none, may, encrypt, dane, dane-only, fingerprint, verify or secure"
        )
    if not all(_TLS_PARAMETER.match(p) for p in parameters.split()):
        raise ValueError("TLS policy parameters are space-separated key=value pairs")
    destination = _address_or_domain(dest)
    body = {
        "dest": destination,
        "policy": policy,
        "parameters": " ".join(parameters.split()),
        "active": _flag(active),
    }
    return ApiCall(
        action="add",
        category="tls-policy-map",
        body=body,
        target=f"{destination} ({policy})",
        expect="tls_policy_map_entry_saved",
    )


def delete_tls_policy_maps(ids: str | int | Sequence[str | int]) -> ApiCall:
    return _delete_numbered(
        "tls-policy-map", ids, "TLS policy map", "maps", expect="tls_policy_map_entry_deleted"
    )


# --- OAuth2 clients (§4.16) ------------------------------------------------------------------------


def add_oauth2_client(redirect_uri: str) -> ApiCall:
    """`add/oauth2-client`. The answer carries no credentials: read them back with `oauth2_clients()`."""
    uri = redirect_uri.strip()
    if not re.match(r"^https?://\S+$", uri):
        raise ValueError("the redirect URI must be an http(s) URL")
    return ApiCall(
        action="add",
        category="oauth2-client",
        body={"redirect_uri": uri},
        target=uri,
        expect="Added client access",
    )


def delete_oauth2_clients(ids: str | int | Sequence[str | int]) -> ApiCall:
    """`delete/oauth2-client` by numeric DB `id`, not `client_id` (§4.16)."""
    return _delete_numbered("oauth2-client", ids, "OAuth2 client", "clients", expect="items_deleted")


# --- rate limits (§4.17) ---------------------------------------------------------------------------


def edit_rl_mbox(mailboxes: str | Sequence[str], value: int, frame: RateFrame) -> ApiCall:
    """`edit/rl-mbox`: at most `value` messages per `frame` (s/m/h/d); value 0 removes the limit."""
    names = [_address(m) for m in _list(mailboxes, "mailbox")]
    return _edit(
        "rl-mbox", names, _rate_limit(value, frame), target=_target(names, "mailboxes"), expect="rl_saved"
    )


def edit_rl_domain(domains: str | Sequence[str], value: int, frame: RateFrame) -> ApiCall:
    names = [_domain(d) for d in _list(domains, "domain")]
    return _edit(
        "rl-domain", names, _rate_limit(value, frame), target=_target(names, "domains"), expect="rl_saved"
    )


# --- quarantine (§4.7) -----------------------------------------------------------------------------


def edit_qitem(ids: str | int | Sequence[str | int], action: QuarantineAction) -> ApiCall:
    """`edit/qitem`: `release` delivers the message (and trains ham), `learnspam` trains spam and
    deletes it. `learnham` is not offered: it is the same as release (§4.7)."""
    expect = {"release": "item_released", "learnspam": "qlearn_spam"}.get(action)
    if expect is None:
        raise ValueError("the quarantine action is release or learnspam")
    items = _ids(ids, "quarantine item")
    return _edit(
        "qitem", items, {"action": action}, target="quarantine item " + _target(items, "items"), expect=expect
    )


def delete_qitems(ids: str | int | Sequence[str | int]) -> ApiCall:
    return _delete_numbered("qitem", ids, "quarantine item", "items", expect="item_deleted")
