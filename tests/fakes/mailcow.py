"""A stateful stand-in for mailcow's admin API (`/api/v1/`) on loopback, with the real server's quirks.

Built from apidocs.json and SERVER-FACTS.md (the server wins where they disagree). What it copies on
purpose, so tests of the bot prove something:
- business failures are HTTP 200 with `type: danger`; write answers are lists of `{type, log, msg}`
  whose `log` echoes the request data **including passwords** (§0.10);
- `{}` for empty collections and unknown objects, `[]` for the queue and quarantine (§3.3);
- no key on a GET → 200 with an empty body; wrong key → 401 with `Content-Type: text/html`, counted in
  `failed_logins`; an `allow_from` list → 401 `api access denied for ip …`; the read-only key on a
  write → 403; invalid JSON → 400; unknown route → 404; wrong method → 405 (§1.4, §3.2);
- every answer sets `MCSESSID`, and a request that sends that cookie back without a key is treated as
  authenticated (§1.5);
- body shapes: add = flat object, edit = items+attr, delete = bare list; `{"items": …}` on a delete
  answers `access_denied`; the documented `edit/mailq {"action":"flush"}` is a no-op answering
  "Task completed"; `edit/fail2ban` with an action but no items rewrites the whole fail2ban config
  and resets `ban_time_increment` and `manage_external` to 0 (§0.7, §0.8);
- `+` in a GET path arrives as a space and `&` cuts it (§2.1).

Listing is fast enough for benchmarks (50,000 mailboxes, 10,000 queue items): rows are JSON-encoded
once when they change, and a listing is one `b",".join`.

Fault injection: `fail_next(prefix, mode, times=1)`, modes `html500[:redis|database|dockerapi]`,
`timeout` (stall `stall_seconds`, then answer), `empty`, `refuse` (close without answering),
`danger:<msg_key>`, `401`, `403`. `latency` adds seconds to every answer.

TLS: `FakeMailcow(tls=context)` serves HTTPS with that server-side `ssl.SSLContext` (its certificate
is whatever the test loaded into it), like mailcow's nginx; `url` then starts with `https://`.
"""

from __future__ import annotations

import base64
import collections
import ipaddress
import json
import math
import random
import re
import secrets
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import unquote

import httpx

API_KEY = "F4C3D0-0A11CE-B0B5EE-CAFE01-D00D42"
RO_KEY = "F4C3D0-0A11CE-B0B5EE-CAFE02-5EED00"
MIB = 1048576
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
VERSION = "2026-08"

_HTML_500 = {
    "redis": "Connection to Redis failed.<br /><br />The following error was reported:<br/>"
    "Connection refused",
    "database": "Connection to database failed.<br /><br />The following error was reported:<br/>  "
    "SQLSTATE[HY000] [2002] No such file or directory",
    "dockerapi": "Connection to dockerapi container failed.<br /><br />The following error was reported:<br/>"
    "111 - Connection refused",
}
_LOG_TYPES = (
    "postfix",
    "dovecot",
    "sogo",
    "netfilter",
    "autodiscover",
    "api",
    "ratelimited",
    "watchdog",
    "acme",
    "rspamd-history",
    "rspamd-stats",
    "cron",
    "ui",
    "sasl",
)
_SQL_LOGS = ("ui", "sasl")
_NOT_REDUCED = frozenset(
    {"max_new_quota", "spam_aliases", "pushover_active", "rl", "rl_scope", "is_relayed", "sender_acl"}
)
_INT_TIME_LOGS = ("netfilter", "api", "ratelimited", "autodiscover", "ui")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s,;]+@[a-z0-9.-]+\.[a-z0-9-]{2,}$")
_HEX_RE = re.compile(r"^[0-9A-Fa-f]+$")
_SEPARATORS = re.compile(r"[\s,;]+")
_MAILBOX_ATTRIBUTES = {
    "force_pw_update": "0",
    "force_tfa": "0",
    "tls_enforce_in": "0",
    "tls_enforce_out": "0",
    "sogo_access": "1",
    "imap_access": "1",
    "pop3_access": "1",
    "smtp_access": "1",
    "sieve_access": "1",
    "eas_access": "1",
    "dav_access": "1",
    "relayhost": "0",
    "passwd_update": "2026-01-05 09:12:44",
    "mailbox_format": "maildir:",
    "quarantine_notification": "hourly",
    "quarantine_category": "reject",
}
_EDIT_KEYS = {
    "mailbox": "username",
    "domain": "domain",
    "alias": "id",
    "mailq": "qid",
    "fail2ban": "network",
    "rl-mbox": "object",
    "rl-domain": "object",
    "qitem": "id",
    "domain-admin": "username",
    "syncjob": "id",
    "fwdhost": "fwdhost",
    "quarantine_notification": "username",
    "oauth2-client": "id",
    "bcc": "id",
}
_DELETE_KEYS = {
    **_EDIT_KEYS,
    "dkim": "domains",
    "recipient_map": "id",
    "tls-policy-map": "id",
    "domain-policy": "prefid",
}
_REMOTE_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "example.net",
    "partner-corp.example",
    "lists.example.org",
    "old-isp.example",
    "dead-mx.example",
    "greylist.example",
)
_DEFER_REASONS = (
    "connect to mx.{d}[{ip}]:25: Connection timed out",
    "connect to mx.{d}[{ip}]:25: Connection refused",
    "host mx.{d}[{ip}] said: 450 4.2.0 <{r}>: Recipient address rejected: Greylisted, see "
    "https://{d}/greylist (in reply to RCPT TO command)",
    "host mx.{d}[{ip}] said: 421 4.7.0 Try again later, closing connection. (in reply to MAIL FROM command)",
    "delivery temporarily suspended: connect to mx.{d}[{ip}]:25: Connection timed out",
    "Host or domain name not found. Name service error for name={d} type=MX: Host not found, try again",
    "host mx.{d}[{ip}] said: 452 4.2.2 The email account that you tried to reach is over quota "
    "(in reply to RCPT TO command)",
)


class Recorded(NamedTuple):
    """One request the stand-in received. `path` is what followed `/api/v1/`, as sent (still encoded)."""

    method: str
    path: str
    json_body: Any
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    session: str = ""


@dataclass
class _Fault:
    prefix: str
    mode: str
    remaining: int


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _now() -> int:
    return int(time.time())


def _stamp(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts if ts is not None else time.time()))


def _as_list(value: Any) -> list[Any]:
    """PHP's `(array)` cast: null → [], scalar → [scalar], object → its values."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _flag(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    return 1 if _int(value, 1 if value is True else 0) else 0


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v for v in _SEPARATORS.split(str(value or "")) if v]


def _is_domain(name: str) -> bool:
    return bool(_DOMAIN_RE.match(name))


def _is_email(address: str) -> bool:
    return bool(_EMAIL_RE.match(address))


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _php_duration(seconds: int) -> str:
    """PHP's `sprintf('%02dh %02dm %02ds', $d/3600, ($d/60)%60, $d%60)`, negative values included."""
    hours = int(seconds / 3600)
    minutes = int(math.fmod(int(seconds / 60), 60))
    secs = int(math.fmod(seconds, 60))
    return f"{hours:02d}h {minutes:02d}m {secs:02d}s"


class _Table:
    """Rows by key, each JSON-encoded once when it changes, so listing 50,000 rows is one join."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self._encoded: dict[str, bytes] = {}

    def put(self, key: str, row: dict[str, Any]) -> None:
        self.rows[key] = row
        self._encoded[key] = _json(row)

    def pop(self, key: str) -> dict[str, Any] | None:
        self._encoded.pop(key, None)
        return self.rows.pop(key, None)

    def listing(self, keys: Iterable[str] | None = None) -> bytes:
        encoded = (
            self._encoded.values() if keys is None else (self._encoded[k] for k in keys if k in self._encoded)
        )
        return b"[" + b",".join(encoded) + b"]"

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120
    server: _Server

    def _serve(self) -> None:
        length = _int(self.headers.get("Content-Length"))
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.fake.handle(self.command, self.path, headers, body, self.client_address[0])
        if reply is None:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            # No `Secure` flag, so an ordinary cookie jar would send it back over plain http (§1.5).
            self.send_header("Set-Cookie", f"MCSESSID={reply.session}; path=/; HttpOnly")
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (timeout tests); nothing to tell it
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `fake.requests` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, fake: FakeMailcow, tls: ssl.SSLContext | None) -> None:
        self.fake = fake
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[Any, Any]:
        """Wrap each connection in TLS; the handshake waits for the connection's own thread, so a
        client that refuses the certificate cannot hold up the others."""
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(_Handler.timeout)
            request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that refuses the certificate ends the handshake with an alert: what the TLS tests
        want, not an error to print."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError):
            super().handle_error(request, client_address)


class FakeMailcow:
    """The stand-in server. Use as a context manager or call `start()`/`stop()`.

    State is public enough for tests to look at (`domains`, `mailboxes`, `queue`, `active_bans`, …),
    but seed it through the helper methods, which keep the derived counters right.
    """

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        ro_key: str = RO_KEY,
        latency: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.ro_key = ro_key
        self.latency = latency
        self.tls = tls
        self.stall_seconds = 2.0
        """How long the `timeout` fault stalls before answering (longer than the tests' timeouts)."""
        self.allow_from: list[str] | None = None
        """None: any client IP; else the IPs/CIDRs allowed to use the keys (127.0.0.1 is the client)."""
        self.identity_provider: str | None = None
        self.dockerapi_up = True
        self.failed_logins = 0
        self.flushes = 0
        self.f2b_rewrites = 0

        self._lock = threading.RLock()
        self._requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._sessions: dict[str, str | None] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._next_id = collections.Counter[str]()

        self.domains: dict[str, dict[str, Any]] = {}
        self.mailboxes = _Table()
        self._mailbox_passwords: dict[str, str] = {}
        self._domain_mailboxes: dict[str, dict[str, None]] = collections.defaultdict(dict)
        self.aliases = _Table()
        self._alias_ids: dict[str, str] = {}
        self.queue = _Table()
        self.f2b_options: dict[str, Any] | None = {
            "ban_time": 1800,
            "max_ban_time": 10000,
            "ban_time_increment": 1,
            "max_attempts": 10,
            "retry_window": 600,
            "netban_ipv4": 32,
            "netban_ipv6": 128,
            "banlist_id": str(uuid.uuid4()),
            "manage_external": 0,
        }
        self.f2b_regex: dict[str, str] | None = {
            "1": r"mailcow UI: Invalid password for .+ by ([0-9a-f\.:]+)",
            "2": r"Rejected mail from unauthenticated sender .+\[([0-9a-f\.:]+)\]",
        }
        self.active_bans: dict[str, dict[str, Any]] = {}
        self.perm_bans: dict[str, int] = {}
        self.whitelist: list[str] = []
        self.blacklist: list[str] = []
        self.logs: dict[str, collections.deque[dict[str, Any]]] = {t: collections.deque() for t in _LOG_TYPES}
        self.quarantine: dict[str, dict[str, Any]] = {}
        self.dkim_keys: dict[str, dict[str, str]] = {}
        self.domain_admins: dict[str, dict[str, Any]] = {}
        self.syncjobs: dict[str, dict[str, Any]] = {}
        self.fwdhosts: dict[str, dict[str, Any]] = {}
        self.dns: dict[str, list[str]] = {}
        """Forwarding-host names the stand-in can resolve; unknown names get two made-up addresses."""
        self.bcc_maps: dict[str, dict[str, Any]] = {}
        self.recipient_maps: dict[str, dict[str, Any]] = {}
        self.tls_policy_maps: dict[str, dict[str, Any]] = {}
        self.domain_policies: dict[str, dict[str, Any]] = {}
        self.oauth2_clients: dict[str, dict[str, Any]] = {}
        self.rate_limits: dict[str, tuple[int, str]] = {}
        self.last_logins: dict[str, dict[str, Any]] = {}
        self.password_policy = {
            "length": "8",
            "chars": "1",
            "special_chars": "0",
            "lowerupper": "1",
            "numbers": "1",
        }
        self.containers: dict[str, dict[str, Any]] = {
            f"{name}-mailcow": {
                "type": "info",
                "container": f"{name}-mailcow",
                "state": "running",
                "started_at": "2026-08-01T03:12:09.270660275Z",
                "image": f"ghcr.io/mailcow/{name}:{VERSION}",
            }
            for name in (
                "acme",
                "clamd",
                "dockerapi",
                "dovecot",
                "mysql",
                "netfilter",
                "nginx",
                "php-fpm",
                "postfix",
                "redis",
                "rspamd",
                "sogo",
                "unbound",
                "watchdog",
            )
        }
        self.vmail = {
            "type": "info",
            "disk": "/dev/sda1",
            "used": "11G",
            "total": "41G",
            "used_percent": "28%",
        }

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the host (the API is under `/api/v1/`)."""
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start()")
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeMailcow:
        self._stopping.clear()
        self._server = _Server(self, self.tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-mailcow",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeMailcow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test helpers -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def calls(self, prefix: str = "") -> list[Recorded]:
        """Recorded requests whose path (after /api/v1/) starts with `prefix`, e.g. `edit/mailq`."""
        return [r for r in self.requests if r.path.startswith(prefix)]

    def writes(self) -> list[str]:
        """The path of every write received (everything but `get/…`), oldest first."""
        return [path for path, _ in self.sent()]

    def sent(self) -> list[tuple[str, Any]]:
        """Every write received, oldest first: (path, body)."""
        return [(r.path, r.json_body) for r in self.requests if not r.path.startswith("get/")]

    def admin_write(self, path: str, body: Any) -> Any:
        """POST `body` to `/api/v1/{path}` as an admin would, for state no seeder sets (or to show that
        mailcow's own route accepts it); every entry of the answer must be a success."""
        response = httpx.post(f"{self.url}/api/v1/{path}", json=body, headers={"X-API-Key": self.api_key})
        result = response.json()
        assert all(entry["type"] == "success" for entry in result), result
        return result

    def reset_log(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(self, prefix: str, mode: str, times: int = 1) -> None:
        """Make the next `times` requests whose path starts with `prefix` fail with `mode`."""
        known = mode in ("timeout", "empty", "refuse", "401", "403") or mode.startswith(
            ("html500", "danger:")
        )
        if not known:
            raise ValueError(f"unknown fault mode {mode!r}")
        with self._lock:
            self._faults.append(_Fault(prefix, mode, times))

    def _session(self, headers: dict[str, str]) -> str:
        """The PHP session of this request: the one its MCSESSID cookie names, or a new one."""
        sid = _cookie(headers)
        if sid is None or sid not in self._sessions:
            sid = secrets.token_hex(13)
            self._sessions[sid] = None
        return sid

    # --- seeding (bypasses validation, keeps counters right) ----------------------------------------

    def add_domain(self, name: str, **settings: Any) -> dict[str, Any]:
        """A domain; settings in mailcow's add/domain units (quotas in MiB)."""
        with self._lock:
            domain = {
                "description": name,
                "aliases": 400,
                "mailboxes": 10,
                "defquota": 3072,
                "maxquota": 10240,
                "quota": 10240,
                "active": 1,
                "gal": 1,
                "backupmx": 0,
                "relay_all_recipients": 0,
                "relay_unknown_only": 0,
                "relayhost": 0,
                "tags": [],
                "created": _stamp(),
                "modified": None,
                "alloc_mib": 0,
                "bytes": 0,
                "msgs": 0,
                "alias_count": 0,
            }
            domain.update(settings)
            self.domains[name] = domain
            return domain

    def add_mailbox(
        self,
        address: str,
        *,
        name: str | None = None,
        quota_mib: int = 3072,
        quota_used: int = 0,
        messages: int = 0,
        active: int = 1,
        password: str = "",
        authsource: str = "mailcow",
        last_login: int = 0,
        tags: list[str] | None = None,
        sender_acl: list[str] | None = None,
        **attributes: str,
    ) -> None:
        """A mailbox (its domain is created with generous limits if missing)."""
        local, _, domain = address.partition("@")
        with self._lock:
            if domain not in self.domains:
                self.add_domain(domain, mailboxes=1_000_000, quota=100_000_000, maxquota=1_000_000)
            self._put_mailbox(
                address,
                name=name if name is not None else local.title(),
                quota_mib=quota_mib,
                quota_used=quota_used,
                messages=messages,
                active=active,
                authsource=authsource,
                attributes={**_MAILBOX_ATTRIBUTES, **attributes},
                logins=(last_login,) * 4,
                tags=tags or [],
                sender_acl=sender_acl,
            )
            self._mailbox_passwords[address] = password

    def add_mailboxes(self, domain: str, count: int, *, prefix: str = "user") -> list[str]:
        """`count` mailboxes `<prefix><n>@domain` for load tests."""
        rng = random.Random(count)
        addresses = [f"{prefix}{n:06d}@{domain}" for n in range(count)]
        with self._lock:
            for address in addresses:
                used = rng.randrange(0, 2048) * MIB
                self.add_mailbox(
                    address,
                    quota_used=used,
                    messages=used // 40960,
                    last_login=_now() - rng.randrange(864000),
                )
        return addresses

    def add_alias(self, address: str, goto: str, *, active: int = 1, **fields: Any) -> int:
        with self._lock:
            alias_id = self._new_id("alias")
            domain = address.rpartition("@")[2]
            row = {
                "id": alias_id,
                "in_primary_domain": "",
                "domain": domain,
                "public_comment": None,
                "private_comment": None,
                "goto": goto,
                "address": address,
                "is_catch_all": 1 if address.startswith("@") else 0,
                "active": active,
                "active_int": active,
                "sogo_visible": 1,
                "sogo_visible_int": 1,
                "sender_allowed": 1,
                "internal": 0,
                "created": _stamp(),
                "modified": None,
            }
            row.update(fields)
            self.aliases.put(str(alias_id), row)
            self._alias_ids[address] = str(alias_id)
            if domain in self.domains:
                self.domains[domain]["alias_count"] += 1
            return alias_id

    def add_queue_items(self, count: int, *, queue_name: str | None = None, seed: int = 7) -> list[str]:
        """Realistic queue items: mostly deferred with delay reasons, some active/hold/incoming,
        senders from the seeded mailboxes and outside, arrival times spread over the last 6 hours."""
        rng = random.Random(seed + len(self.queue))
        local_senders = list(self.mailboxes.rows)[:50] or ["noreply@example.org"]
        queues = ["deferred"] * 14 + ["active"] * 2 + ["hold"] * 2 + ["incoming", "maildrop"]
        ids: list[str] = []
        with self._lock:
            while len(ids) < count:
                qid = f"{rng.getrandbits(40):010X}"
                if qid in self.queue:
                    continue
                name = queue_name or rng.choice(queues)
                sender = (
                    rng.choice(local_senders)
                    if rng.random() < 0.7
                    else f"bounce-{rng.randrange(999)}@lists.example"
                )
                recipients = []
                for _ in range(rng.choice((1, 1, 1, 2, 3))):
                    rdomain = rng.choice(_REMOTE_DOMAINS)
                    user = rng.choice(("info", "sales", "j.doe", "ops", "anna"))
                    rcpt = f"{user}{rng.randrange(99)}@{rdomain}"
                    if name == "deferred":
                        ip = f"192.0.2.{rng.randrange(1, 255)}"
                        reason = rng.choice(_DEFER_REASONS).format(d=rdomain, ip=ip, r=rcpt)
                        recipients.append(f"{rcpt} ({reason})")
                    else:
                        recipients.append(rcpt)
                row = {
                    "queue_name": name,
                    "queue_id": qid,
                    "arrival_time": _now() - rng.randrange(21600),
                    "message_size": rng.randrange(900, 2_000_000),
                    "forced_expire": False,
                    "sender": sender,
                    "recipients": recipients,
                }
                self.queue.put(qid, row)
                ids.append(qid)
        return ids

    def set_queue(self, *, deferred: int = 0, hold: int = 0) -> None:
        """Replace the queue with `deferred` deferred and `hold` held messages, 10 minutes old."""
        for qid in list(self.queue.rows):
            self.queue.pop(qid)
        for name, count in (("deferred", deferred), ("hold", hold)):
            if count:
                self.add_queue_items(count, queue_name=name)
        self.age_queue(600)  # young enough for the queue watch's default age threshold (4 h)

    def age_queue(self, seconds: float, now: float | None = None) -> None:
        """Make every queued message `seconds` old at `now` (by default the wall clock)."""
        arrival = int((time.time() if now is None else now) - seconds)
        for qid, row in list(self.queue.rows.items()):
            self.queue.put(qid, {**row, "arrival_time": arrival})

    def ban(
        self, ip: str, seconds_left: int, network: str | None = None, *, queued_for_unban: int = 0
    ) -> str:
        """An active fail2ban ban; `network` defaults to the /32 (/128) form netfilter uses."""
        if network is None:
            network = f"{ip}/{128 if ':' in ip else 32}"
        with self._lock:
            self.active_bans[network] = {"expires": time.time() + seconds_left, "queued": queued_for_unban}
            self.add_log(
                "netfilter",
                {"priority": "crit", "message": f"Banning {network} for {seconds_left // 60} minutes"},
            )
        return network

    def add_log(self, log_type: str, entry: dict[str, Any]) -> None:
        """Push a log line (newest first). `time` defaults to now, as a string for syslog-fed logs."""
        with self._lock:
            row = dict(entry)
            row.setdefault("time", _now() if log_type in _INT_TIME_LOGS else str(_now()))
            self.logs[log_type].appendleft(row)

    def add_quarantine(
        self, *, sender: str, rcpt: str, subject: str, score: float = 15.3, action: str = "reject"
    ) -> int:
        with self._lock:
            item_id = self._new_id("quarantine")
            self.quarantine[str(item_id)] = {
                "id": item_id,
                "qid": f"{random.getrandbits(40):010X}",
                "subject": subject,
                "virus_flag": 0,
                "score": score,
                "rcpt": rcpt,
                "sender": sender,
                "action": action,
                "created": _now(),
                "notified": 0,
                "symbols": "[]",
                "msg": f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nbody\r\n",
            }
            return item_id

    def seed_demo(self) -> None:
        """The small, realistic data set the `fake_mailcow` fixture starts with."""
        with self._lock:
            self.add_domain("example.org", description="Example Org", mailboxes=50, quota=51200)
            self.add_domain(
                "example.net", description="Example Net", mailboxes=10, quota=10240, maxquota=5120
            )
            self._make_dkim("example.org", "dkim", 2048)
            self.add_mailbox(
                "alice@example.org",
                name="Alice Liddell",
                quota_used=1200 * MIB,
                messages=5230,
                last_login=_now() - 3600,
            )
            self.add_mailbox(
                "bob@example.org",
                name="Bob Builder",
                quota_mib=1024,
                quota_used=900 * MIB,
                last_login=_now() - 86400 * 3,
            )
            self.add_mailbox("carol@example.org", name="Carol Danvers", active=2)
            self.add_mailbox("dave@example.net", name="Dave Null", quota_mib=2048, last_login=0)
            self.add_mailbox("erin@example.net", name="Erin Ldap", authsource="ldap", quota_mib=2048)
            self.add_alias("info@example.org", "alice@example.org")
            self.add_alias("sales@example.org", "alice@example.org,bob@example.org")
            self.add_alias("@example.net", "dave@example.net")
            self.add_queue_items(6, seed=1)
            self.ban("203.0.113.7", 1500)
            now = _now()
            for offset, message in (
                (
                    900,
                    "203.0.113.7 matched rule id 1 (mailcow UI: Invalid password for admin by 203.0.113.7)",
                ),
                (700, "9 more attempts in the next 600 seconds until 203.0.113.7/32 is banned"),
                (300, "Banning 203.0.113.7/32 for 30 minutes"),
            ):
                self.add_log("netfilter", {"time": now - offset, "priority": "warn", "message": message})
            for offset, program, message in (
                (
                    500,
                    "postfix/smtpd",
                    "NOQUEUE: reject: RCPT from unknown[203.0.113.7]: 554 5.7.1 Service unavailable",
                ),
                (
                    120,
                    "postfix/qmgr",
                    "4B1C2D3E4F: from=<alice@example.org>, size=2311, nrcpt=1 (queue active)",
                ),
                (
                    60,
                    "postfix/smtp",
                    "4B1C2D3E4F: to=<x@dead-mx.example>, status=deferred (connect to "
                    "mx.dead-mx.example[192.0.2.9]:25: Connection timed out)",
                ),
            ):
                self.add_log(
                    "postfix",
                    {"time": str(now - offset), "priority": "info", "program": program, "message": message},
                )
            self.add_log(
                "dovecot",
                {
                    "time": str(now - 30),
                    "priority": "info",
                    "program": "dovecot",
                    "message": "imap-login: Login: user=<alice@example.org>, method=PLAIN, "
                    "rip=198.51.100.20, lip=172.22.1.250, TLS",
                },
            )
            self.add_log(
                "dovecot",
                {
                    "time": str(now - 10),
                    "priority": "info",
                    "program": "dovecot",
                    "message": "auth: passwd-file(bob@example.org,203.0.113.7): unknown user",
                },
            )

    # --- request handling ---------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, client_ip: str
    ) -> Reply | None:
        """One HTTP exchange; None means: close the connection without answering."""
        path, _, _query = raw_path.partition("?")
        api_path = path[len("/api/v1/") :] if path.startswith("/api/v1/") else None
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", "replace")
        with self._lock:
            self._requests.append(
                Recorded(method, api_path if api_path is not None else path, parsed, dict(headers))
            )
            fault = self._take_fault(api_path or "")
            sid = self._session(headers)
        if self.latency:
            self._stopping.wait(self.latency)
        reply: Reply | None
        if api_path is None:
            reply = _error(404, "route not found")
        elif fault is not None and fault != "timeout":
            reply = self._fault_reply(fault)
        else:
            if fault == "timeout":  # stall past the client's timeout, then do the work anyway
                self._stopping.wait(self.stall_seconds)
            with self._lock:
                reply = self._route(method, api_path, headers, body, client_ip=client_ip, sid=sid)
        if reply is not None:
            reply.session = sid
        return reply

    def _take_fault(self, api_path: str) -> str | None:
        for fault in self._faults:
            if api_path.startswith(fault.prefix):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault.mode
        return None

    def _fault_reply(self, mode: str) -> Reply | None:
        if mode.startswith("html500"):
            backend = mode.partition(":")[2] or "redis"
            html = f'<center style="font-family:sans-serif;">{_HTML_500[backend]}</center>'
            return Reply(500, html.encode(), HTML_TYPE)
        if mode == "empty":
            return Reply(200, b"")
        if mode == "refuse":
            return None
        if mode == "401":
            with self._lock:
                self.failed_logins += 1
            return Reply(401, _json({"type": "error", "msg": "authentication failed"}), HTML_TYPE)
        if mode == "403":
            return _error(403, "API read/write access denied")
        key = mode.partition(":")[2]
        return Reply(200, _json([{"type": "danger", "log": ["fault", "injected"], "msg": key}]))

    def _authenticate(
        self, headers: dict[str, str], client_ip: str, sid: str
    ) -> tuple[str | None, Reply | None]:
        """(access, refusal): access is "rw", "ro" or None (not logged in), as sessions.inc.php decides.
        A key that passes logs the session in; without a key the session's login counts (§1.5)."""
        key = re.sub(r"[^A-Za-z0-9-]", "", headers.get("x-api-key", ""))
        if key:
            access = "rw" if key == self.api_key else "ro" if key == self.ro_key else None
            if access is None:
                self.failed_logins += 1
                return None, Reply(401, _json({"type": "error", "msg": "authentication failed"}), HTML_TYPE)
            if self.allow_from is not None and not _ip_allowed(client_ip, self.allow_from):
                self.failed_logins += 1
                return None, _error(401, f"api access denied for ip {client_ip}")
            self._sessions[sid] = access
            return access, None
        return self._sessions.get(sid), None

    def _route(
        self, method: str, api_path: str, headers: dict[str, str], body: bytes, *, client_ip: str, sid: str
    ) -> Reply:
        # nginx hands the decoded path to PHP inside a query string (§2.1): "+" turns into a space,
        # "&" ends the value, and only the first four segments count.
        decoded = unquote(api_path).replace("+", " ").split("&", 1)[0]
        segments = decoded.split("/")
        action, category = segments[0], segments[1] if len(segments) > 1 else ""
        obj = segments[2] if len(segments) > 2 else None
        extra = segments[3] if len(segments) > 3 else None
        access, refusal = self._authenticate(headers, client_ip, sid)
        if refusal is not None:
            return refusal
        if action == "get":
            if access is None:
                return Reply(200, b"")
            if method != "GET":
                return _error(405, "only GET method is allowed")
            getter = self._getters().get(category)
            if getter is None:
                return _error(404, "route not found")
            return _reply(getter(obj, extra))
        if action not in ("add", "edit", "delete"):
            return _error(404, "route not found") if access else Reply(200, b"")
        if action in ("edit", "delete") and access is None:
            return _error(403, "API read/write access denied")
        if access == "ro":
            return _error(403, "API read/write access denied")
        if "application/json" not in headers.get("content-type", ""):
            return Reply(200, _json({"type": "error", "msg": "Cannot find attributes in post data"}))
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if data is None:
            return _error(400, "Request body doesn't contain valid json!")
        if method != "POST":
            return _error(405, "only POST method is allowed")
        if access is None:  # add without a key: the business function refuses
            if category in ("bcc", "recipient_map", "tls-policy-map"):
                return Reply(200, _json({"type": "error", "msg": "Cannot add item"}))
            return Reply(
                200, _json([{"type": "danger", "log": [category, "add", data], "msg": "access_denied"}])
            )
        return self._write(action, category, obj, data)

    def _write(self, action: str, category: str, obj: str | None, data: Any) -> Reply:
        handler = {"add": self._adders, "edit": self._editors, "delete": self._deleters}[action]().get(
            category
        )
        if handler is None:
            return _error(404, "route not found")
        if action == "add":
            attr = data if isinstance(data, dict) else {}
            outcome = handler(attr)
            logged: Any = attr
        elif action == "edit":
            items = _as_list(data.get("items")) if isinstance(data, dict) else []
            attr = data.get("attr") if isinstance(data, dict) and isinstance(data.get("attr"), dict) else {}
            if obj:  # edit/<category>/<object> sub-routes are not modelled
                return _error(404, "route not found")
            outcome = handler(items, attr)
            logged = {_EDIT_KEYS.get(category, "items"): items, **attr}
        else:
            items = _as_list(data)
            outcome = handler(items)
            logged = {_DELETE_KEYS.get(category, "items"): items}
        verb = {"add": "add", "edit": "edit", "delete": "delete"}[action]
        if outcome is False:
            return Reply(200, _json({"type": "error", "msg": f"Cannot {verb} item"}))
        if outcome is None or outcome == []:
            return Reply(200, _json({"type": "success", "msg": "Task completed"}))
        if isinstance(outcome, Reply):
            return outcome
        log = [category, action, logged, None]
        return Reply(200, _json([{"type": kind, "log": log, "msg": msg} for kind, msg in outcome]))

    def _new_id(self, kind: str) -> int:
        self._next_id[kind] += 1
        return self._next_id[kind]

    # --- reads --------------------------------------------------------------------------------------

    def _getters(self) -> dict[str, Callable[[str | None, str | None], Any]]:
        return {
            "domain": self._get_domain,
            "mailbox": self._get_mailbox,
            "alias": self._get_alias,
            "mailq": self._get_mailq,
            "postcat": self._get_postcat,
            "fail2ban": lambda obj, extra: self._fail2ban_view(),
            "logs": self._get_logs,
            "quarantine": self._get_quarantine,
            "dkim": self._get_dkim,
            "domain-admin": self._get_domain_admin,
            "syncjobs": self._get_syncjobs,
            "fwdhost": self._get_fwdhost,
            "bcc": lambda obj, extra: _by_id(self.bcc_maps, obj),
            "recipient_map": lambda obj, extra: _by_id(self.recipient_maps, obj),
            "tls-policy-map": lambda obj, extra: _by_id(self.tls_policy_maps, obj),
            "policy_wl_domain": lambda obj, extra: self._get_policies("wl", obj),
            "policy_bl_domain": lambda obj, extra: self._get_policies("bl", obj),
            "oauth2-client": lambda obj, extra: _by_id(self.oauth2_clients, obj, stray_key=False),
            "rl-mbox": lambda obj, extra: self._get_rate_limits("mailbox", obj),
            "rl-domain": lambda obj, extra: self._get_rate_limits("domain", obj),
            "status": self._get_status,
            "passwordpolicy": lambda obj, extra: dict(self.password_policy),
            "last-login": self._get_last_login,
        }

    def _domain_view(self, name: str) -> dict[str, Any]:
        d = self.domains[name]
        count = len(self._domain_mailboxes.get(name, {}))
        left_mib = max(d["quota"] - d["alloc_mib"], 0)
        view = {
            "max_new_mailbox_quota": min(d["maxquota"], left_mib) * MIB,
            "def_new_mailbox_quota": min(d["defquota"], left_mib) * MIB,
            "quota_used_in_domain": str(d["alloc_mib"] * MIB),
            "bytes_total": d["bytes"],
            "msgs_total": d["msgs"],
            "mboxes_in_domain": count,
            "mboxes_left": max(d["mailboxes"] - count, 0),
            "domain_name": name,
            "domain_h_name": name,
            "description": d["description"],
            "max_num_aliases_for_domain": d["aliases"],
            "max_num_mboxes_for_domain": d["mailboxes"],
            "def_quota_for_mbox": d["defquota"] * MIB,
            "max_quota_for_mbox": d["maxquota"] * MIB,
            "max_quota_for_domain": d["quota"] * MIB,
            "relayhost": str(d["relayhost"]),
            "backupmx": d["backupmx"],
            "backupmx_int": d["backupmx"],
            "gal": d["gal"],
            "gal_int": d["gal"],
            "rl": _rl_view(self.rate_limits.get(name)),
            "active": d["active"],
            "active_int": d["active"],
            "relay_all_recipients": d["relay_all_recipients"],
            "relay_all_recipients_int": d["relay_all_recipients"],
            "relay_unknown_only": d["relay_unknown_only"],
            "relay_unknown_only_int": d["relay_unknown_only"],
            "aliases_in_domain": d["alias_count"],
            "aliases_left": max(d["aliases"] - d["alias_count"], 0),
            "created": d["created"],
            "modified": d["modified"],
            "domain_admins": ", ".join(u for u, a in self.domain_admins.items() if name in a["domains"])
            or "-",
        }
        if d["tags"]:
            view["tags"] = list(d["tags"])
        return view

    def _get_domain(self, obj: str | None, extra: str | None) -> Any:
        if obj == "all":
            return [self._domain_view(n) for n in self.domains] or {}
        if obj in self.domains:
            return self._domain_view(obj)
        return {}

    def _get_mailbox(self, obj: str | None, extra: str | None) -> Any:
        if obj in ("all", "reduced"):
            if extra:
                keys = [k for d in extra.split(",") for k in self._domain_mailboxes.get(d.strip(), {})]
            else:
                keys = list(self.mailboxes.rows)
            if not keys:
                return {}
            if obj == "reduced":  # without what costs mailcow extra queries (SERVER-FACTS §4.2)
                rows = (self.mailboxes.rows[k] for k in keys)
                return [{f: v for f, v in row.items() if f not in _NOT_REDUCED} for row in rows]
            return self.mailboxes.listing(keys)
        if obj is not None and obj in self.mailboxes:
            return self.mailboxes.rows[obj]
        return {}

    def _get_alias(self, obj: str | None, extra: str | None) -> Any:
        if obj == "all":
            if extra:
                wanted = set(extra.split(","))
                keys = [k for k, row in self.aliases.rows.items() if row["domain"] in wanted]
                return self.aliases.listing(keys) if keys else {}
            return self.aliases.listing() if len(self.aliases) else {}
        key = obj if obj in self.aliases else self._alias_ids.get(obj or "")
        return self.aliases.rows[key] if key in self.aliases else {}

    def _get_mailq(self, obj: str | None, extra: str | None) -> Any:
        if obj != "all":
            return Reply(200, b"")
        return self.queue.listing() if self.dockerapi_up else []

    def _get_postcat(self, obj: str | None, extra: str | None) -> Any:
        row = self.queue.rows.get(obj or "")
        if row is None or not self.dockerapi_up:
            return Reply(200, f"postcat: fatal: open queue file {obj}: No such file or directory\n".encode())
        rcpt = ", ".join(r.split(" (", 1)[0] for r in row["recipients"])
        text = (
            f"*** ENVELOPE RECORDS deferred/{obj} ***\nmessage_size: {row['message_size']}\n"
            f"sender: {row['sender']}\nrecipient: {rcpt}\n*** MESSAGE CONTENTS deferred/{obj} ***\n"
            f"From: {row['sender']}\nTo: {rcpt}\nSubject: Quarterly report\n\nHello,\nsee attached.\n"
            "*** HEADER EXTRACTED deferred/{obj} ***\n*** MESSAGE FILE END deferred/{obj} ***\n"
        )
        return Reply(200, text.encode())

    def _fail2ban_view(self) -> dict[str, Any]:
        if self.f2b_options is None:
            return {"regex": None, "whitelist": "", "blacklist": ""}
        view: dict[str, Any] = {**self.f2b_options, "regex": self.f2b_regex}
        view["whitelist"] = "\n".join(self.whitelist)
        view["blacklist"] = "\n".join(self.blacklist)
        if self.perm_bans:
            view["perm_bans"] = [{"network": n, "ip": n.split("/")[0]} for n in self.perm_bans]
        if self.active_bans:
            now = time.time()
            view["active_bans"] = [
                {
                    "queued_for_unban": b["queued"],
                    "network": n,
                    "ip": n.split("/")[0],
                    "banned_until": _php_duration(int(b["expires"] - now)),
                }
                for n, b in self.active_bans.items()
            ]
        return view

    def _get_logs(self, obj: str | None, extra: str | None) -> Any:
        if obj not in self.logs:
            return _error(404, "route not found")
        entries = self.logs[obj]
        if obj == "rspamd-history" and not self.dockerapi_up:
            return {}
        if extra is None:
            first, count = 0, 1000
        elif re.fullmatch(r"[0-9]+", extra) and int(extra) > 0:
            first, count = 0, int(extra)
        elif (match := re.fullmatch(r"([0-9]+)-([0-9]+)", extra)) and 0 < int(match[1]) <= int(match[2]):
            start, end = int(match[1]), int(match[2])
            # SQL logs read "a-b" as offset a-1, count b (off by design, §4.6)
            first, count = start - 1, (end if obj in _SQL_LOGS else end - start + 1)
        else:
            return {}  # "0", "" (trailing slash) and bad ranges
        selected = list(entries)[first : first + count]
        return selected or {}

    def _get_quarantine(self, obj: str | None, extra: str | None) -> Any:
        if obj == "all":
            return [
                {k: v for k, v in q.items() if k not in ("msg", "symbols")} for q in self.quarantine.values()
            ]
        return self.quarantine.get(obj or "") or []

    def _get_dkim(self, obj: str | None, extra: str | None) -> Any:
        key = self.dkim_keys.get(obj or "")
        if key is None:
            return {}
        return {
            "pubkey": key["pubkey"],
            "length": key["length"],
            "privkey": "",
            "dkim_txt": f"v=DKIM1;k=rsa;t=s;s=email;p={key['pubkey']}",
            "dkim_selector": key["selector"],
        }

    def _domain_admin_view(self, name: str) -> dict[str, Any]:
        admin = self.domain_admins[name]
        view: dict[str, Any] = {
            "username": name,
            "tfa_active": 0,
            "tfa_active_int": 0,
            "active": admin["active"],
            "active_int": admin["active"],
            "created": admin["created"],
            "attributes": dict(admin["attributes"]),
            "unselected_domains": [d for d in self.domains if d not in admin["domains"]] or "",
        }
        if admin["domains"]:
            view["selected_domains"] = list(admin["domains"])
        return view

    def _get_domain_admin(self, obj: str | None, extra: str | None) -> Any:
        if obj == "all":
            return [self._domain_admin_view(n) for n in self.domain_admins] or {}
        return self._domain_admin_view(obj) if obj in self.domain_admins else {}

    def _get_syncjobs(self, obj: str | None, extra: str | None) -> Any:
        flags = set((extra or "").split(","))
        jobs = [j for j in self.syncjobs.values() if obj == "all" or j["user2"] == obj]
        views = []
        for job in jobs:
            view = {k: v for k, v in job.items() if k != "password1" or "with_password" in flags}
            view["log"] = "" if "no_log" in flags else "Transfer started at ...\nHost1: imap.example.com\n"
            views.append(view)
        return views or {}

    def _get_fwdhost(self, obj: str | None, extra: str | None) -> Any:
        views = {
            h: {"host": h, "source": v["source"], "keep_spam": v["keep_spam"]}
            for h, v in self.fwdhosts.items()
        }
        if obj == "all":
            return list(views.values()) or {}
        return views.get(obj or "", {})

    def _get_policies(self, kind: str, domain: str | None) -> Any:
        if not domain or domain not in self.domains:
            return {}
        rows = [
            {"object": p["object"], "value": p["value"], "prefid": p["prefid"]}
            for p in self.domain_policies.values()
            if p["list"] == kind and (p["object"] == domain or p["object"].endswith("@" + domain))
        ]
        return rows or {}

    def _get_rate_limits(self, kind: str, obj: str | None) -> Any:
        mine = {o: v for o, v in self.rate_limits.items() if ("@" in o) == (kind == "mailbox")}
        if obj == "all":
            return [{"value": str(v), "frame": f, kind: o} for o, (v, f) in mine.items()] or {}
        limit = mine.get(obj or "")
        return {"value": str(limit[0]), "frame": limit[1]} if limit else {}

    def _get_status(self, obj: str | None, extra: str | None) -> Any:
        if obj == "version":
            return {"version": VERSION}
        if obj == "containers":
            return self.containers if self.dockerapi_up else None
        if obj == "vmail":
            return (
                self.vmail
                if self.dockerapi_up
                else {"type": "info", "disk": "", "used": "0", "total": "0", "used_percent": "0%"}
            )
        return Reply(200, b"")

    def _get_last_login(self, obj: str | None, extra: str | None) -> Any:
        return self.last_logins.get(obj or "", {"ui": False, "sasl": []})

    # --- domains ------------------------------------------------------------------------------------

    def _adders(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "domain": self._add_domain,
            "domain-policy": self._add_domain_policy,
            "mailbox": self._add_mailbox,
            "alias": self._add_alias,
            "syncjob": self._add_syncjob,
            "fwdhost": self._add_fwdhost,
            "dkim": self._add_dkim,
            "dkim_duplicate": self._add_dkim_duplicate,
            "domain-admin": self._add_domain_admin,
            "bcc": self._add_bcc,
            "recipient_map": self._add_recipient_map,
            "tls-policy-map": self._add_tls_policy_map,
            "oauth2-client": self._add_oauth2_client,
        }

    def _editors(self) -> dict[str, Callable[[list[Any], dict[str, Any]], Any]]:
        return {
            "domain": self._edit_domain,
            "mailbox": self._edit_mailbox,
            "quarantine_notification": self._edit_quarantine_notification,
            "alias": self._edit_alias,
            "syncjob": self._edit_syncjob,
            "fwdhost": self._edit_fwdhost,
            "mailq": self._edit_mailq,
            "fail2ban": self._edit_fail2ban,
            "domain-admin": self._edit_domain_admin,
            "rl-mbox": lambda items, attr: self._edit_rate_limit("mailbox", items, attr),
            "rl-domain": lambda items, attr: self._edit_rate_limit("domain", items, attr),
            "qitem": self._edit_qitem,
            "oauth2-client": self._edit_oauth2_client,
        }

    def _deleters(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "domain": self._delete_domain,
            "domain-policy": lambda items: self._delete_rows(self.domain_policies, items, "item_deleted"),
            "mailbox": self._delete_mailbox,
            "alias": self._delete_alias,
            "syncjob": self._delete_syncjob,
            "fwdhost": self._delete_fwdhost,
            "mailq": self._delete_mailq,
            "dkim": self._delete_dkim,
            "domain-admin": self._delete_domain_admin,
            "bcc": lambda items: self._delete_rows(self.bcc_maps, items, "bcc_deleted"),
            "recipient_map": lambda items: self._delete_rows(
                self.recipient_maps, items, "recipient_map_entry_deleted"
            ),
            "tls-policy-map": lambda items: self._delete_rows(
                self.tls_policy_maps, items, "tls_policy_map_entry_deleted"
            ),
            "oauth2-client": self._delete_oauth2_client,
            "qitem": lambda items: self._delete_rows(self.quarantine, items, "item_deleted", unknown_ok=True),
        }

    def _make_dkim(self, domain: str, selector: str, size: int) -> None:
        pub = base64.b64encode(random.randbytes(size // 8 + 38)).decode()
        self.dkim_keys[domain] = {"selector": selector, "length": str(size), "pubkey": pub}

    def _add_domain(self, attr: dict[str, Any]) -> Any:
        name = str(attr.get("domain", "")).strip().lower()
        if not _is_domain(name):
            return [("danger", "domain_invalid")]
        if name in self.domains:
            return [("danger", ["domain_exists", name])]
        if name == "mail.example.org":
            return [("danger", "domain_cannot_match_hostname")]
        settings = {
            "description": str(attr.get("description") or name),
            **{
                k: _int(attr[k])
                for k in ("aliases", "mailboxes", "defquota", "maxquota", "quota")
                if k in attr
            },
            **{
                k: _flag(attr[k])
                for k in ("active", "gal", "backupmx", "relay_all_recipients", "relay_unknown_only")
                if k in attr
            },
            "tags": [str(t) for t in _as_list(attr.get("tags"))][:25],
        }
        probe = {"defquota": 3072, "maxquota": 10240, "quota": 10240, **settings}
        if probe["defquota"] == 0:
            return [("danger", "defquota_empty")]
        if probe["maxquota"] == 0:
            return [("danger", "maxquota_empty")]
        if probe["defquota"] > probe["maxquota"]:
            return [("danger", "mailbox_defquota_exceeds_mailbox_maxquota")]
        if probe["maxquota"] > probe["quota"]:
            return [("danger", "mailbox_quota_exceeds_domain_quota")]
        answer: list[tuple[str, Any]] = []
        if attr.get("rl_value") not in (None, "", 0, "0"):
            self.rate_limits[name] = (_int(attr["rl_value"]), str(attr.get("rl_frame", "s")))
            answer.append(("success", ["rl_saved", name]))
        self.add_domain(name, **settings)
        if _int(attr.get("key_size", 2048)) > 0:
            if name in self.dkim_keys:
                answer.append(("success", ["domain_add_dkim_available", name]))
            else:
                self._make_dkim(
                    name, str(attr.get("dkim_selector") or "dkim"), _int(attr.get("key_size", 2048))
                )
                answer.append(("success", ["dkim_added", name]))
        if len(_as_list(attr.get("tags"))) > 25:
            answer.append(("warning", "tag_limit_exceeded"))
        answer.append(("success", ["domain_added", name]))
        return answer

    def _edit_domain(self, items: list[Any], attr: dict[str, Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for name in items:
            domain = self.domains.get(str(name))
            if domain is None:
                answer.append(("danger", "domain_invalid"))
                continue
            count = len(self._domain_mailboxes.get(name, {}))
            largest = max(
                (self.mailboxes.rows[m]["quota"] // MIB for m in self._domain_mailboxes.get(name, {})),
                default=0,
            )
            new = dict(domain)
            for key in ("aliases", "maxquota", "quota", "description"):  # "0" and "" count as not given
                if attr.get(key) not in (None, "", 0, "0"):
                    new[key] = str(attr[key]) if key == "description" else _int(attr[key])
            for key in ("mailboxes", "defquota"):
                if attr.get(key) not in (None, ""):
                    new[key] = _int(attr[key])
            for key in (
                "active",
                "backupmx",
                "gal",
                "relay_all_recipients",
                "relay_unknown_only",
                "relayhost",
            ):
                if key in attr:
                    new[key] = _int(attr[key]) if key == "relayhost" else _flag(attr[key])
            if new["maxquota"] < largest:
                answer.append(("danger", ["max_quota_in_use", largest]))
            elif new["quota"] < domain["alloc_mib"]:
                answer.append(("danger", ["domain_quota_m_in_use", domain["alloc_mib"]]))
            elif new["mailboxes"] < count:
                answer.append(("danger", ["mailboxes_in_use", count]))
            elif new["aliases"] < domain["alias_count"]:
                answer.append(("danger", ["aliases_in_use", domain["alias_count"]]))
            else:
                new["tags"] = list(dict.fromkeys([*domain["tags"], *map(str, _as_list(attr.get("tags")))]))
                new["modified"] = _stamp()
                self.domains[name] = new
                answer.append(("success", ["domain_modified", name]))
        return answer

    def _delete_domain(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for name in items:
            if not isinstance(name, str) or not _is_domain(name):
                answer.append(("danger", "domain_invalid"))
            elif self._domain_mailboxes.get(name):
                answer.append(("danger", ["domain_not_empty", name]))
            else:  # no existence check: an unknown valid name is "removed" too (§4.1)
                self.domains.pop(name, None)
                self.dkim_keys.pop(name, None)
                self.rate_limits.pop(name, None)
                for key in [k for k, row in self.aliases.rows.items() if row["domain"] == name]:
                    self._alias_ids.pop(self.aliases.rows[key]["address"], None)
                    self.aliases.pop(key)
                answer.append(("success", ["domain_removed", name]))
        return answer

    def _add_domain_policy(self, attr: dict[str, Any]) -> Any:
        domain, kind, sender = (str(attr.get(k, "")) for k in ("domain", "object_list", "object_from"))
        if domain not in self.domains or kind not in ("wl", "bl"):
            return [("danger", "access_denied")]
        if not re.fullmatch(r"[A-Za-z0-9@_.*-]+", sender):
            return [("danger", "policy_list_from_invalid")]
        if any(p["object"] == domain and p["value"] == sender for p in self.domain_policies.values()):
            return [("danger", "policy_list_from_exists")]
        prefid = self._new_id("policy")
        self.domain_policies[str(prefid)] = {
            "object": domain,
            "value": sender,
            "prefid": prefid,
            "list": kind,
        }
        return [("success", ["domain_modified", domain])]

    # --- mailboxes ----------------------------------------------------------------------------------

    def _put_mailbox(
        self,
        username: str,
        *,
        name: str,
        quota_mib: int,
        quota_used: int,
        messages: int,
        active: int,
        authsource: str,
        attributes: dict[str, str],
        logins: tuple[int, ...],
        tags: list[str],
        created: str | None = None,
        sender_acl: list[str] | None = None,
    ) -> None:
        local, _, domain = username.partition("@")
        old = self.mailboxes.rows.get(username)
        d = self.domains[domain]
        if old is not None:
            d["alloc_mib"] -= old["quota"] // MIB
            d["bytes"] -= old["quota_used"]
            d["msgs"] -= old["messages"]
        d["alloc_mib"] += quota_mib
        d["bytes"] += quota_used
        d["msgs"] += messages
        limit = self.rate_limits.get(username)
        row: dict[str, Any] = {
            "username": username,
            "active": active,
            "active_int": active,
            "domain": domain,
            "name": name,
            "local_part": local,
            "quota": quota_mib * MIB,
            "messages": messages,
            "attributes": attributes,
            "custom_attributes": {},
            "quota_used": quota_used,
            "percent_in_use": round(quota_used * 100 / (quota_mib * MIB)) if quota_mib else "- ",
            "created": created or _stamp(),
            "modified": _stamp() if old is not None else None,
            "authsource": authsource,
            "last_imap_login": logins[0],
            "last_smtp_login": logins[1],
            "last_pop3_login": 0,
            "last_sso_login": 0,
            "max_new_quota": (d["quota"] - d["alloc_mib"]) * MIB,
            "spam_aliases": 0,
            "pushover_active": 0,
            "rl": _rl_view(limit),
            "rl_scope": "mailbox" if limit else "domain",
            "is_relayed": d["backupmx"],
            "percent_class": "success",
            "sender_acl": list(sender_acl or []),
        }
        if tags:
            row["tags"] = tags
        self.mailboxes.put(username, row)
        self._domain_mailboxes[domain][username] = None

    def _rewrite_mailbox(self, username: str, **changes: Any) -> None:
        row = self.mailboxes.rows[username]
        current = {
            "name": row["name"],
            "quota_mib": row["quota"] // MIB,
            "quota_used": row["quota_used"],
            "messages": row["messages"],
            "active": row["active"],
            "authsource": row["authsource"],
            "attributes": dict(row["attributes"]),
            "logins": (row["last_imap_login"], row["last_smtp_login"]),
            "tags": list(row.get("tags", [])),
            "created": row["created"],
            "sender_acl": list(row["sender_acl"]),
        }
        current.update(changes)
        self._put_mailbox(username, **current)

    def _password_problem(self, password: Any, password2: Any) -> str | None:
        if not password or password2 in (None, ""):
            return "password_complexity"
        if password != password2:
            return "password_mismatch"
        text = str(password)
        policy = {k: _int(v) for k, v in self.password_policy.items()}
        checks = (
            len(text) >= policy["length"],
            not policy["chars"] or re.search(r"[A-Za-z]", text),
            not policy["special_chars"] or re.search(r"[^A-Za-z0-9]", text),
            not policy["lowerupper"] or (re.search(r"[a-z]", text) and re.search(r"[A-Z]", text)),
            not policy["numbers"] or re.search(r"[0-9]", text),
        )
        return None if all(checks) else "password_complexity"

    def _add_mailbox(self, attr: dict[str, Any]) -> Any:
        local = str(attr.get("local_part", "")).strip().lower()
        domain = str(attr.get("domain", "")).strip().lower()
        username = f"{local}@{domain}"
        if not local or not _is_email(username):
            return [("danger", "mailbox_invalid")]
        if domain not in self.domains:
            return [("danger", ["domain_not_found", domain])]
        if username in self.mailboxes or username in self._alias_ids:
            return [("danger", ["object_exists", username])]
        authsource = str(attr.get("authsource") or "mailcow")
        if authsource not in ("mailcow", self.identity_provider):
            return [("danger", "access_denied")]
        if authsource == "mailcow":
            problem = self._password_problem(attr.get("password"), attr.get("password2"))
            if problem:
                return [("danger", problem)]
        d = self.domains[domain]
        quota = _int(attr.get("quota"), 0)  # omitted: the Default template's 0 = unlimited (§0.9)
        count = len(self._domain_mailboxes.get(domain, {}))
        if count >= d["mailboxes"]:
            return [("danger", ["max_mailbox_exceeded", count, d["mailboxes"]])]
        if quota > d["maxquota"]:
            return [("danger", ["mailbox_quota_exceeded", d["maxquota"]])]
        if quota > d["quota"] - d["alloc_mib"]:
            return [("danger", ["mailbox_quota_left_exceeded", d["quota"] - d["alloc_mib"]])]
        attributes = dict(_MAILBOX_ATTRIBUTES)
        for key in ("force_pw_update", "force_tfa", "tls_enforce_in", "tls_enforce_out", "sogo_access"):
            if key in attr:
                attributes[key] = str(_flag(attr[key]))
        attributes["passwd_update"] = _stamp()
        self._put_mailbox(
            username,
            name=str(attr.get("name") or ""),
            quota_mib=quota,
            quota_used=0,
            messages=0,
            active=_int(attr.get("active"), 1),
            authsource=authsource,
            attributes=attributes,
            logins=(0, 0),
            tags=[str(t) for t in _as_list(attr.get("tags"))],
        )
        self._mailbox_passwords[username] = str(attr.get("password") or "")
        return [("success", ["mailbox_added", username])]

    def _edit_mailbox(self, items: list[Any], attr: dict[str, Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for username in items:
            row = self.mailboxes.rows.get(str(username))
            if row is None:
                answer.append(("danger", "access_denied"))
                continue
            changes: dict[str, Any] = {}
            attributes = dict(row["attributes"])
            if "password" in attr or "password2" in attr:
                problem = self._password_problem(attr.get("password"), attr.get("password2"))
                if problem:  # the whole edit of this mailbox is skipped (§4.2)
                    answer.append(("danger", problem))
                    continue
                if row["authsource"] == "mailcow":  # silently ignored for LDAP/OIDC mailboxes
                    self._mailbox_passwords[username] = str(attr["password"])
                    attributes["passwd_update"] = _stamp()
            d = self.domains[row["domain"]]
            if "quota" in attr:
                quota = _int(attr["quota"])
                left = d["quota"] - d["alloc_mib"] + row["quota"] // MIB
                if quota > d["maxquota"]:
                    answer.append(("danger", ["mailbox_quota_exceeded", d["maxquota"] * MIB]))
                    continue
                if quota > left:
                    answer.append(("danger", ["mailbox_quota_left_exceeded", left]))
                    continue
                changes["quota_mib"] = quota
            if "name" in attr:
                changes["name"] = str(attr["name"])
            if "active" in attr:
                changes["active"] = _int(attr["active"])
            for key in ("force_pw_update", "force_tfa", "sogo_access"):
                if key in attr:
                    attributes[key] = str(_flag(attr[key]))
            if row["authsource"] != "mailcow":  # forced to 0 for external authsources
                attributes["force_pw_update"] = "0"
            if "protocol_access" in attr:
                wanted = set(_as_list(attr["protocol_access"]))
                for proto in ("imap", "pop3", "smtp", "sieve", "eas", "dav"):
                    attributes[f"{proto}_access"] = "1" if proto in wanted else "0"
            if "tags" in attr:
                changes["tags"] = list(
                    dict.fromkeys([*row.get("tags", []), *map(str, _as_list(attr["tags"]))])
                )
            self._rewrite_mailbox(username, attributes=attributes, **changes)
            answer.append(("success", ["mailbox_modified", username]))
        return answer

    def _delete_mailbox(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for username in items:
            row = self.mailboxes.rows.get(username) if isinstance(username, str) else None
            if row is None:
                answer.append(("danger", "access_denied"))
                continue
            d = self.domains[row["domain"]]
            d["alloc_mib"] -= row["quota"] // MIB
            d["bytes"] -= row["quota_used"]
            d["msgs"] -= row["messages"]
            self.mailboxes.pop(username)
            self._domain_mailboxes[row["domain"]].pop(username, None)
            self._mailbox_passwords.pop(username, None)
            self.rate_limits.pop(username, None)
            for job_id in [i for i, j in self.syncjobs.items() if j["user2"] == username]:
                del self.syncjobs[job_id]
            for key, alias in list(self.aliases.rows.items()):
                gotos = [g for g in alias["goto"].split(",") if g != username]
                if len(gotos) != len(alias["goto"].split(",")):
                    self.aliases.put(key, {**alias, "goto": ",".join(gotos)})
            if not self.dockerapi_up:
                answer.append(("warning", ["maildir_removal_failed", username]))
            answer.append(("success", ["mailbox_removed", username]))
        return answer

    def _edit_quarantine_notification(self, items: list[Any], attr: dict[str, Any]) -> Any:
        value = attr.get("quarantine_notification")
        if value not in ("never", "hourly", "daily", "weekly"):
            return [("danger", "access_denied")]
        answer: list[tuple[str, Any]] = []
        for username in items:
            if username not in self.mailboxes:
                answer.append(("danger", "access_denied"))
                continue
            attributes = {**self.mailboxes.rows[username]["attributes"], "quarantine_notification": value}
            self._rewrite_mailbox(username, attributes=attributes)
            answer.append(("success", ["mailbox_modified", username]))
        return answer

    # --- aliases ------------------------------------------------------------------------------------

    def _alias_goto(self, attr: dict[str, Any]) -> tuple[str | None, list[tuple[str, Any]]]:
        """(goto, problems) honouring goto_null > goto_spam > goto_ham > goto (§4.3)."""
        for flag, target in (
            ("goto_null", "null@localhost"),
            ("goto_spam", "spam@localhost"),
            ("goto_ham", "ham@localhost"),
        ):
            if _flag(attr.get(flag)):
                return target, []
        gotos = _split(attr.get("goto"))
        if not gotos:
            return None, [("danger", "goto_empty")]
        valid = [g for g in gotos if _is_email(g.lower())]
        problems = [("danger", ["goto_invalid", g]) for g in gotos if g not in valid]
        return (",".join(g.lower() for g in valid) if valid else None), problems

    def _add_alias(self, attr: dict[str, Any]) -> Any:
        addresses = _split(attr.get("address"))
        if not addresses:
            return [("danger", "alias_empty")]
        for key in ("public_comment", "private_comment"):
            if len(str(attr.get(key) or "")) > 160:
                return [("danger", "comment_too_long")]
        goto, answer = self._alias_goto(attr)
        if goto is None:
            return answer or [("danger", "goto_empty")]
        for address in (a.lower() for a in addresses):
            domain = address.rpartition("@")[2]
            if not (address.startswith("@") and _is_domain(domain)) and not _is_email(address):
                answer.append(("danger", ["alias_invalid", address]))
                continue
            if domain not in self.domains:
                answer.append(("danger", ["domain_not_found", domain]))
                continue
            if address in self._alias_ids or address in self.mailboxes:
                answer.append(("danger", ["is_alias_or_mailbox", address]))
                continue
            if address in goto.split(","):
                continue  # skipped without a word
            d = self.domains[domain]
            if d["alias_count"] >= d["aliases"]:
                answer.append(("danger", "max_alias_exceeded"))
                continue
            alias_id = self.add_alias(
                address,
                goto,
                active=_flag(attr.get("active")),
                sogo_visible=_flag(attr.get("sogo_visible")),
                sogo_visible_int=_flag(attr.get("sogo_visible")),
                sender_allowed=_flag(attr.get("sender_allowed")),
                internal=_flag(attr.get("internal")),
                public_comment=attr.get("public_comment"),
                private_comment=attr.get("private_comment"),
            )
            answer.append(("success", ["alias_added", address, str(alias_id)]))
        return answer

    def _edit_alias(self, items: list[Any], attr: dict[str, Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for item in items:
            key = str(item) if str(item) in self.aliases else self._alias_ids.get(str(item))
            if key is None:
                answer.append(("danger", ["alias_invalid", item]))
                continue
            row = dict(self.aliases.rows[key])
            if "goto" in attr or any(k in attr for k in ("goto_null", "goto_spam", "goto_ham")):
                goto, problems = self._alias_goto(attr)
                if goto is None:
                    answer.extend(problems)
                    continue
                row["goto"] = goto
            elif row["goto"] in ("null@localhost", "spam@localhost", "ham@localhost"):
                # the goto_* flags default to 0 on edit: the special goto fails validation and the row
                # is not updated, yet alias_modified is reported (§4.3, inferred)
                answer.append(("success", ["alias_modified", row["address"]]))
                continue
            for flag in ("active", "sogo_visible", "sender_allowed", "internal"):
                if flag in attr:
                    row[flag] = _flag(attr[flag])
                    if f"{flag}_int" in row:
                        row[f"{flag}_int"] = row[flag]
            for comment in ("public_comment", "private_comment"):
                if comment in attr:
                    row[comment] = attr[comment]
            row["modified"] = _stamp()
            self.aliases.put(key, row)
            answer.append(("success", ["alias_modified", row["address"]]))
        return answer

    def _delete_alias(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for item in items:
            key = str(item) if str(item) in self.aliases else self._alias_ids.get(str(item))
            if key is None or not isinstance(item, str | int):
                answer.append(("danger", "access_denied"))
                continue
            row = self.aliases.pop(key) or {}
            self._alias_ids.pop(row["address"], None)
            if row["domain"] in self.domains:
                self.domains[row["domain"]]["alias_count"] -= 1
            answer.append(("success", ["alias_removed", row["address"]]))
        return answer

    # --- sync jobs ----------------------------------------------------------------------------------

    def _add_syncjob(self, attr: dict[str, Any]) -> Any:
        user2 = str(attr.get("username", ""))
        port = _int(attr.get("port1"))
        interval = _int(attr.get("mins_interval"))
        valid = (
            user2 in self.mailboxes
            and attr.get("host1")
            and attr.get("user1")
            and attr.get("password1")
            and 1 <= port <= 65535
            and attr.get("enc1") in ("TLS", "SSL", "PLAIN")
            and 1 <= interval <= 43800
        )
        if not valid:
            return [("danger", "access_denied")]
        if any(
            j["user2"] == user2 and j["user1"] == attr["user1"] and j["host1"] == attr["host1"]
            for j in self.syncjobs.values()
        ):
            return [("danger", "object_exists")]
        job_id = self._new_id("syncjob")
        self.syncjobs[str(job_id)] = {
            "id": job_id,
            "user2": user2,
            "host1": str(attr["host1"]),
            "authmech1": "PLAIN",
            "regextrans2": "",
            "authmd51": 0,
            "domain2": "",
            "subfolder2": str(attr.get("subfolder2", "")),
            "user1": str(attr["user1"]),
            "password1": str(attr["password1"]),
            "exclude": str(attr.get("exclude", "")),
            "maxage": _int(attr.get("maxage")),
            "mins_interval": str(interval),
            "maxbytespersecond": str(_int(attr.get("maxbytespersecond"))),
            "port1": port,
            "enc1": attr["enc1"],
            "custom_params": str(attr.get("custom_params", "")),
            "timeout1": _int(attr.get("timeout1"), 600) or 600,
            "timeout2": _int(attr.get("timeout2"), 600) or 600,
            **{
                k: _flag(attr.get(k))
                for k in (
                    "delete2duplicates",
                    "delete1",
                    "delete2",
                    "automap",
                    "skipcrossduplicates",
                    "subscribeall",
                    "dry",
                    "active",
                )
            },
            "is_running": 0,
            "last_run": None,
            "success": None,
            "exit_status": None,
            "created": _stamp(),
            "modified": None,
        }
        return [("success", ["mailbox_modified", user2])]

    def _edit_syncjob(self, items: list[Any], attr: dict[str, Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        names = {
            "host1": str,
            "port1": _int,
            "user1": str,
            "password1": str,
            "enc1": str,
            "mins_interval": str,
            "subfolder2": str,
            "exclude": str,
            "maxage": _int,
            "active": _flag,
        }
        for item in items:
            job = self.syncjobs.get(str(item))
            if job is None:
                answer.append(("danger", "access_denied"))
                continue
            job.update({k: convert(attr[k]) for k, convert in names.items() if k in attr})
            job["modified"] = _stamp()
            answer.append(("success", ["mailbox_modified", job["user2"]]))
        return answer

    def _delete_syncjob(self, items: list[Any]) -> Any:
        if not all(isinstance(i, str | int) and str(i).isdigit() for i in items):
            return [("danger", "access_denied")]  # a non-numeric id aborts the whole request (§4.10)
        answer: list[tuple[str, Any]] = []
        for item in items:
            self.syncjobs.pop(str(item), None)
            answer.append(("success", ["deleted_syncjob", str(item)]))
        return answer

    # --- forwarding hosts ---------------------------------------------------------------------------

    def _add_fwdhost(self, attr: dict[str, Any]) -> Any:
        host = str(attr.get("hostname", "")).strip()
        if _is_network(host):
            addresses, source = [host], host
        elif _is_domain(host) and not host.endswith(".invalid"):
            seed = sum(host.encode())
            addresses, source = (
                self.dns.get(host, [f"198.51.100.{seed % 250 + 1}", f"2001:db8::{seed:x}"]),
                host,
            )
        else:
            return [("danger", ["invalid_host", host])]
        keep = "no" if _flag(attr.get("filter_spam")) else "yes"
        for address in addresses:
            self.fwdhosts[address] = {"source": source, "keep_spam": keep}
        return [("success", ["forwarding_host_added", ", ".join(addresses)])]

    def _edit_fwdhost(self, items: list[Any], attr: dict[str, Any]) -> Any:
        known = [str(h) for h in items if str(h) in self.fwdhosts]
        if not known:
            return [("danger", "access_denied")]
        for host in known:
            if "keep_spam" in attr:
                self.fwdhosts[host]["keep_spam"] = "yes" if _flag(attr["keep_spam"]) else "no"
        return [("success", ["object_modified", ", ".join(known)])]

    def _delete_fwdhost(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for host in items:
            if not isinstance(host, str) or self.fwdhosts.pop(host, None) is None:
                answer.append(("danger", "access_denied"))
            else:
                answer.append(("success", ["forwarding_host_removed", host]))
        return answer

    # --- queue --------------------------------------------------------------------------------------

    def _edit_mailq(self, items: list[Any], attr: dict[str, Any]) -> Any:
        action = attr.get("action")
        if action not in ("hold", "unhold", "deliver", "flush", "super_delete"):
            return []  # generic "Task completed" with nothing done (§4.4)
        if not self.dockerapi_up:
            return [("danger", "unknown")]
        qids = [str(q) for q in items if isinstance(q, str) and _HEX_RE.match(q)]
        if action == "flush":
            self.flushes += 1
            targets = [k for k, row in self.queue.rows.items() if row["queue_name"] == "deferred"]
        elif action == "super_delete":
            for key in list(self.queue.rows):
                self.queue.pop(key)
            targets = []
        else:
            targets = [q for q in qids if q in self.queue]
        new_queue = {"hold": "hold", "unhold": "deferred", "deliver": "active", "flush": "active"}.get(action)
        for qid in targets:
            row = self.queue.rows[qid]
            if action == "unhold" and row["queue_name"] != "hold":
                continue
            self.queue.put(qid, {**row, "queue_name": new_queue})
        return [("success", "queue_command_success")]

    def _delete_mailq(self, items: list[Any]) -> Any:
        if not self.dockerapi_up:
            return [("danger", "unknown")]
        qids = [str(q) for q in items if isinstance(q, str) and _HEX_RE.match(q)]
        if not qids:  # postsuper runs without arguments and still reports success (§4.4)
            return []
        for qid in qids:
            self.queue.pop(qid)
        return [("success", "queue_command_success")]

    # --- fail2ban -----------------------------------------------------------------------------------

    def _edit_fail2ban(self, items: list[Any], attr: dict[str, Any]) -> Any:
        action = attr.get("action")
        networks = [str(i) for i in items if isinstance(i, str)]
        if action in ("unban", "whitelist", "blacklist") and networks:
            answer: list[tuple[str, Any]] = []
            for network in networks:
                if action == "unban":
                    if network in self.active_bans:  # netfilter lifts it on its next pass
                        del self.active_bans[network]
                        self.add_log("netfilter", {"priority": "info", "message": f"Unbanning {network}"})
                    elif _is_network(network):
                        self.add_log(
                            "netfilter",
                            {
                                "priority": "info",
                                "message": f"{network} is not banned, "
                                "skipping unban and deleting from queue (if any)",
                            },
                        )
                elif not _is_network(network):
                    answer.append(("danger", ["network_host_invalid", network]))
                    continue
                elif action == "whitelist":
                    self.whitelist = [*(w for w in self.whitelist if w != network), network]
                    self.blacklist = [b for b in self.blacklist if b != network]
                    self.active_bans.pop(network, None)
                else:
                    parsed = ipaddress.ip_network(network, strict=False)
                    if parsed.prefixlen == 0 or parsed.network_address.is_unspecified:
                        answer.append(("danger", ["network_host_invalid", network]))
                        continue
                    self.blacklist = [*(b for b in self.blacklist if b != network), network]
                    self.whitelist = [w for w in self.whitelist if w != network]
                    self.perm_bans[str(parsed)] = _now()
                answer.append(("success", ["object_modified", network]))
            return answer
        # No action, or an action without items: the full configuration is rewritten (§0.8, §4.5).
        self.f2b_rewrites += 1
        options = dict(self.f2b_options or {})
        for key, minimum in (
            ("ban_time", 60),
            ("max_ban_time", 60),
            ("max_attempts", 1),
            ("retry_window", 1),
        ):
            if key in attr:
                options[key] = max(_int(attr[key]), minimum)
        for key, maximum in (("netban_ipv4", 32), ("netban_ipv6", 128)):
            if key in attr:
                options[key] = min(_int(attr[key]), maximum)
        options["ban_time_increment"] = 1 if attr.get("ban_time_increment") in (1, "1", True) else 0
        options["manage_external"] = 1 if attr.get("manage_external") in (1, "1", True) else 0
        self.f2b_options = options
        if "whitelist" in attr:
            self.whitelist = _split(attr["whitelist"])
        if "blacklist" in attr:
            self.blacklist = _split(attr["blacklist"])
        return [("success", "f2b_modified")]

    # --- DKIM, domain admins ------------------------------------------------------------------------

    def _add_dkim(self, attr: dict[str, Any]) -> Any:
        if not isinstance(attr.get("domains"), str):
            return Reply(200, b"")  # a list hits a PHP TypeError; the handler swallows it (§4.8)
        selector = str(attr.get("dkim_selector") or "dkim")
        size = _int(attr.get("key_size"), 2048)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", selector) or size not in (1024, 2048, 3072, 4096, 8192):
            return [("danger", "dkim_domain_or_sel_invalid")]
        answer: list[tuple[str, Any]] = []
        for domain in _split(attr["domains"]):
            if domain not in self.domains or domain in self.dkim_keys:
                answer.append(("danger", ["dkim_domain_or_sel_invalid", domain]))
                continue
            self._make_dkim(domain, selector, size)
            answer.append(("success", ["dkim_added", domain]))
        return answer

    def _add_dkim_duplicate(self, attr: dict[str, Any]) -> Any:
        source = self.dkim_keys.get(str(attr.get("from_domain", "")))
        if source is None:
            return [("danger", "dkim_domain_or_sel_invalid")]
        answer: list[tuple[str, Any]] = []
        for target in _as_list(attr.get("to_domain")):  # target not validated; overwritten (§4.8)
            self.dkim_keys[str(target)] = dict(source)
            answer.append(("success", ["dkim_duplicated", attr["from_domain"], target]))
        return answer

    def _delete_dkim(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for domain in items:
            self.dkim_keys.pop(str(domain), None)
            answer.append(("success", ["dkim_removed", domain]))  # no existence check
        return answer

    def _add_domain_admin(self, attr: dict[str, Any]) -> Any:
        username = str(attr.get("username", ""))
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", username) or username.lower() == "api":
            return [("danger", ["username_invalid", username])]
        if username in self.domain_admins or username in self.mailboxes:
            return [("danger", ["object_exists", username])]
        problem = self._password_problem(attr.get("password"), attr.get("password2"))
        if problem:
            return [("danger", problem)]
        answer: list[tuple[str, Any]] = []
        domains = []
        for domain in _as_list(attr.get("domains")):
            if domain in self.domains:
                domains.append(domain)
            else:
                answer.append(("danger", ["domain_invalid", domain]))
        if domains:  # with no valid domain the login is not created, yet success is reported (§4.9)
            self.domain_admins[username] = {
                "password": attr.get("password"),
                "domains": domains,
                "active": _flag(attr.get("active")),
                "created": _stamp(),
                "attributes": {"force_tfa": 0, "force_pw_update": 0},
            }
        answer.append(("success", ["domain_admin_added", username]))
        return answer

    def _edit_domain_admin(self, items: list[Any], attr: dict[str, Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for username in items:
            admin = self.domain_admins.get(str(username))
            if admin is None:
                answer.append(("danger", ["username_invalid", username]))
                continue
            if "domains" in attr:
                admin["domains"] = [d for d in _as_list(attr["domains"]) if d in self.domains]
            if "active" in attr:
                admin["active"] = _flag(attr["active"])
            # reset to 0 unless sent on every edit (§4.9)
            admin["attributes"] = {k: _flag(attr.get(k)) for k in ("force_tfa", "force_pw_update")}
            if "password" in attr:
                problem = self._password_problem(attr.get("password"), attr.get("password2"))
                if problem:
                    answer.append(("danger", problem))
                    continue
                admin["password"] = attr["password"]
            answer.append(("success", ["domain_admin_modified", username]))
        return answer

    def _delete_domain_admin(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for username in items:
            if self.domain_admins.pop(str(username), None) is None:
                answer.append(("danger", ["username_invalid", username]))
            else:
                answer.append(("success", ["domain_admin_removed", username]))
        return answer

    # --- maps, OAuth2, rate limits, quarantine ------------------------------------------------------

    def _known_local(self, value: str) -> bool:
        return value in self.domains or value in self.mailboxes or value in self._alias_ids

    def _add_bcc(self, attr: dict[str, Any]) -> Any:
        local, dest, kind = (str(attr.get(k, "")).strip().lower() for k in ("local_dest", "bcc_dest", "type"))
        if kind not in ("sender", "rcpt"):
            return [("danger", "invalid_bcc_map_type")]
        if not dest:
            return [("danger", "bcc_empty")]
        if not _is_email(dest):
            return [("danger", ["bcc_must_be_email", dest])]
        if not self._known_local(local):
            return False  # no message at all → "Cannot add item" (§4.12)
        stored = f"@{local}" if local in self.domains else local
        if any(m["local_dest"] == stored and m["type"] == kind for m in self.bcc_maps.values()):
            return [("danger", ["bcc_exists", stored])]
        map_id = self._new_id("bcc")
        self.bcc_maps[str(map_id)] = {
            "id": map_id,
            "local_dest": stored,
            "bcc_dest": dest,
            "active": _flag(attr.get("active")),
            "type": kind,
            "created": _stamp(),
            "domain": local.rpartition("@")[2],
            "modified": None,
        }
        return [("success", "bcc_saved")]

    def _add_recipient_map(self, attr: dict[str, Any]) -> Any:
        old, new = (
            str(attr.get(k, "")).strip().lower().lstrip("@")
            for k in ("recipient_map_old", "recipient_map_new")
        )
        if not (_is_email(old) or _is_domain(old)):
            return [("danger", ["invalid_recipient_map_old", old])]
        if not (_is_email(new) or _is_domain(new)):
            return [("danger", ["invalid_recipient_map_new", new])]
        old = old if "@" in old else f"@{old}"
        new = new if "@" in new else f"@{new}"
        if any(m["recipient_map_old"] == old for m in self.recipient_maps.values()):
            return [("danger", ["recipient_map_entry_exists", old])]
        map_id = self._new_id("recipient_map")
        self.recipient_maps[str(map_id)] = {
            "id": map_id,
            "recipient_map_old": old,
            "recipient_map_new": new,
            "active": _flag(attr.get("active")),
            "created": _stamp(),
            "modified": None,
        }
        return [("success", ["recipient_map_entry_saved", old])]

    def _add_tls_policy_map(self, attr: dict[str, Any]) -> Any:
        dest = str(attr.get("dest", "")).strip().lower()
        if dest in ("", ".", "*", "@") or not (_is_email(dest) or _is_domain(dest.lstrip("."))):
            return [("danger", "tls_policy_map_dest_invalid")]
        parameters = str(attr.get("parameters", ""))
        if not all(re.fullmatch(r"[A-Za-z0-9_]+=\S+", p) for p in parameters.split()):
            return [("danger", "tls_policy_map_parameter_invalid")]
        if any(m["dest"] == dest for m in self.tls_policy_maps.values()):
            return [("danger", ["tls_policy_map_entry_exists", dest])]
        map_id = self._new_id("tls")
        self.tls_policy_maps[str(map_id)] = {
            "id": map_id,
            "dest": dest,
            "policy": str(attr.get("policy", "")),
            "parameters": parameters,
            "active": _flag(attr.get("active")),
            "created": _stamp(),
            "modified": None,
        }
        return [("success", ["tls_policy_map_entry_saved", dest])]

    def _add_oauth2_client(self, attr: dict[str, Any]) -> Any:
        client_id = self._new_id("oauth2")
        self.oauth2_clients[str(client_id)] = {
            "id": client_id,
            "client_id": secrets.token_hex(6),
            "client_secret": secrets.token_hex(12),
            "redirect_uri": str(attr.get("redirect_uri", "")),
            "grant_types": None,
            "scope": "profile",
            "user_id": None,
        }
        return [("success", "Added client access")]

    def _edit_oauth2_client(self, items: list[Any], attr: dict[str, Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for item in items:
            client = self.oauth2_clients.get(str(item))
            if client is None:
                answer.append(("danger", "access_denied"))
                continue
            if "redirect_uri" in attr:
                client["redirect_uri"] = str(attr["redirect_uri"])
            elif "renew_secret" in attr:
                client["client_secret"] = secrets.token_hex(12)
            answer.append(("success", ["object_modified", str(item)]))
        return answer

    def _delete_oauth2_client(self, items: list[Any]) -> Any:
        answer: list[tuple[str, Any]] = []
        for item in items:
            if not (isinstance(item, str | int) and str(item).isdigit()):
                answer.append(("danger", "access_denied"))
                continue
            self.oauth2_clients.pop(str(item), None)  # unknown numeric ids: success too
        # a trailing success, even after a danger (§4.16)
        answer.append(("success", ["items_deleted", ", ".join(map(str, items))]))
        return answer

    def _delete_rows(
        self, table: dict[str, Any], items: list[Any], message: str, *, unknown_ok: bool = False
    ) -> Any:
        answer: list[tuple[str, Any]] = []
        for item in items:
            numeric = isinstance(item, str | int) and str(item).isdigit()
            if not numeric or (table.pop(str(item), None) is None and not unknown_ok):
                answer.append(("danger", "access_denied"))
            else:
                answer.append(("success", [message, str(item)]))
        return answer

    def _edit_rate_limit(self, kind: str, items: list[Any], attr: dict[str, Any]) -> Any:
        frame = attr.get("rl_frame")
        if frame not in ("s", "m", "h", "d"):
            return [("danger", "rl_timeframe")]
        answer: list[tuple[str, Any]] = []
        for item in map(str, items):
            if item not in (self.mailboxes.rows if kind == "mailbox" else self.domains):
                answer.append(("danger", "access_denied"))
                continue
            value = _int(attr.get("rl_value"))
            if value > 0:
                self.rate_limits[item] = (value, frame)
            else:
                self.rate_limits.pop(item, None)
            if kind == "mailbox":
                self._rewrite_mailbox(item)
            answer.append(("success", ["rl_saved", item]))
        return answer

    def _edit_qitem(self, items: list[Any], attr: dict[str, Any]) -> Any:
        action = attr.get("action")
        if action not in ("release", "learnham", "learnspam"):
            return []
        answer: list[tuple[str, Any]] = []
        for item in items:
            if self.quarantine.pop(str(item), None) is None:
                answer.append(("danger", "access_denied"))
            elif action == "learnspam":
                answer.append(("success", ["qlearn_spam", str(item)]))
            else:  # learnham is the same branch as release: the mail is delivered (§4.7)
                answer += [("success", ["item_released", str(item)]), ("success", ["learned_ham", str(item)])]
        return answer


def _cookie(headers: dict[str, str]) -> str | None:
    match = re.search(r"(?:^|;\s*)MCSESSID=([0-9a-f]+)", headers.get("cookie", ""))
    return match[1] if match else None


def _ip_allowed(ip: str, allowed: list[str]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowed)


def _error(status: int, msg: str) -> Reply:
    return Reply(status, _json({"type": "error", "msg": msg}))


def _reply(data: Any) -> Reply:
    if isinstance(data, Reply):
        return data
    if isinstance(data, bytes):
        return Reply(200, data)
    return Reply(200, _json(data))


def _rl_view(limit: tuple[int, str] | None) -> Any:
    return {"value": str(limit[0]), "frame": limit[1]} if limit else False


def _by_id(table: dict[str, dict[str, Any]], obj: str | None, *, stray_key: bool = True) -> Any:
    """`all` → list or `{}`; an id → the row, with the stray `"0": null` the PHP code appends (§6 row 22)."""
    if obj == "all":
        return list(table.values()) or {}
    row = table.get(obj or "")
    if row is None:
        return {}
    return {**row, "0": None} if stray_key else row


__all__ = ["API_KEY", "RO_KEY", "FakeMailcow", "Recorded", "Reply"]
