"""The synchronous mailcow API client (called from worker threads; thread-safe).

What it guards against, all from SERVER-FACTS:
- mailcow reports most failures as HTTP 200 with `type: danger` (§0.1), so writes are judged by their
  body and raise `MailcowRejected`, with every entry translated and the `log` field dropped (it
  echoes request data, passwords included, §0.10).
- mailcow's `MCSESSID` cookie authenticates later requests without the key (§1.5), so the client
  refuses every cookie.
- A 401 counts towards fail2ban banning the bot's IP (§1.4), so nothing is retried after a 401/403.
  Reads retry connection errors and 5xx with exponential backoff; writes only retry when the
  connection was refused before anything was sent.
- Empty collections come back as `{}` (§3.3): `[]` for list reads, `None` for single-object reads.
- `+`, `&`, `/`, `%` or a space in a GET path segment is mangled by nginx/PHP (§2.1): such lookups
  list the domain and filter instead.

Timeouts: `timeout` applies to each HTTP exchange. Docker-backed writes (queue actions, mailbox and
domain deletes; `ApiCall.slow`) wait on dockerapi, which may take up to 60 s (§5.1), so their read
timeout is `max(timeout, 75)`: a write that times out leaves its outcome unknown, which is worse than
waiting. Reads keep `timeout` and are retried instead.

TLS: `tls_server_name` reaches nginx by one name (`https://nginx-mailcow` inside mailcow's Docker
network) and checks its certificate against another (`mail.example.org`, the name on it): the TLS
handshake sends that name as SNI and matches the certificate against it, and `Host:` carries it too,
so nginx sees exactly the request a client of `https://mail.example.org` sends. `verify_tls` may be
the path of a CA bundle that alone is trusted for mailcow. A certificate that fails the check is
reported as such (`reason="tls"`) and not retried: trying again cannot change the certificate.
"""

from __future__ import annotations

import codecs
import functools
import http.cookiejar
import json
import logging
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from urllib.parse import quote

import httpx
from cachetools import TTLCache
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from bot.mailcow.calls import ApiCall
from bot.mailcow.errors import (
    Entry,
    MailcowAuthError,
    MailcowError,
    MailcowRejected,
    MailcowUnavailable,
    WriteResult,
)
from bot.mailcow.messages import translate
from bot.mailcow.models import (
    Alias,
    BccMap,
    ContainerStatus,
    DkimKey,
    Domain,
    DomainAdmin,
    DomainPolicy,
    Fail2ban,
    ForwardingHost,
    LastLogin,
    LogEntry,
    Mailbox,
    MailboxName,
    OAuth2Client,
    PasswordPolicy,
    QuarantineItem,
    QueueItem,
    RateLimit,
    RecipientMap,
    SyncJob,
    TlsPolicyMap,
    VmailStatus,
)
from bot.metrics import CACHE, MAILCOW_ERRORS, MAILCOW_SECONDS

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

SLOW_READ_TIMEOUT = 75.0
LOG_TYPES = (
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
    "cron",
    "ui",
    "sasl",
)
"""Every `get/logs/<type>` the bot reads (§4.6)."""

_RETRYABLE_READ = frozenset({"connection", "server_error"})
_LITERAL_SEGMENTS = frozenset(
    {"all", "no_log", "reduced", "with_password", "containers", "version", "vmail", "host", *LOG_TYPES}
)
_UNSAFE_IN_PATH = frozenset("+&/%?#\\ \t\r\n")
_QUEUE_ID = re.compile(r"^[0-9A-Fa-f]+$")
_HTML_START = re.compile(rb"\s*<")
_BACKENDS = (
    ("redis", "Redis"),
    ("database", "its database (MariaDB)"),
    ("dockerapi", "the dockerapi container"),
)
_CHECK_KEY = (
    "Check MAILCOW_API_KEY and the API allow-list in mailcow (System > Configuration > Access > API). "
    "Every refused key counts as a failed login, and repeated failures get the bot's IP address banned "
    "by mailcow's fail2ban."
)
_CHECK_OUTCOME = "The change may or may not have been made: check in mailcow before trying again."
_NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_UNTRUSTED_ISSUER = frozenset({18, 19, 20, 21})  # self-signed, or no trusted CA above it


class _RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    """mailcow's session cookie would authenticate requests without the key (§1.5): keep none."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


def endpoint_template(path: str) -> str:
    """`get/mailbox/a@b.tld` → `get/mailbox/{x}`: the low-cardinality label for logs and metrics."""
    parts = path.strip("/").split("/")
    rest = (p if p in _LITERAL_SEGMENTS else "{x}" for p in parts[2:])
    return "/".join([*parts[:2], *rest])


def _segment(value: str) -> str:
    """One GET path segment, percent-encoded; characters nginx/PHP would mangle are refused (§2.1)."""
    if not value or _UNSAFE_IN_PATH.intersection(value):
        raise ValueError(f"{value!r} cannot be looked up by name through mailcow's API path")
    return quote(value, safe="@")


def _is_path_safe(value: str) -> bool:
    return bool(value) and not _UNSAFE_IN_PATH.intersection(value)


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


class _JsonArrayItems:
    """Decodes a JSON array fed in chunks, converting each element as soon as it is complete, so no
    more than one element is ever held as decoded JSON. A body that does not start with `[` is
    kept whole in `not_a_list`, for the usual checks."""

    def __init__(self, template: str, convert: Callable[[Any], Any]) -> None:
        self._template = template
        self._convert = convert
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._started = False
        self._ended = False
        self._need_comma = False
        self.items: list[Any] = []
        self.not_a_list: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        if self.not_a_list is not None:
            self.not_a_list += chunk
            return
        if not self._started:
            head = chunk.lstrip()
            if not head:
                return
            if not head.startswith(b"["):
                self.not_a_list = head
                return
            self._started = True
            chunk = head[1:]
        self._buffer += self._text.decode(chunk)
        self._decode(final=False)

    def finish(self) -> None:
        """Raises when the body ended before the array did, or went on after it."""
        if not self._started:
            if self.not_a_list is None:
                self.not_a_list = b""
            return
        self._buffer += self._text.decode(b"", final=True)
        self._decode(final=True)
        if not self._ended or self._buffer.strip():
            raise self._broken()

    def _decode(self, *, final: bool) -> None:
        buffer, at, end = self._buffer, 0, len(self._buffer)
        while not self._ended:
            at = _skip_space(buffer, at)
            if at == end:
                break
            if buffer[at] == "]" and (self._need_comma or not self.items):
                self._ended, at = True, at + 1
            elif self._need_comma:
                if buffer[at] != ",":
                    raise self._broken()
                self._need_comma, at = False, at + 1
            else:
                try:
                    element, after = self._decoder.raw_decode(buffer, at)
                except json.JSONDecodeError:
                    if final:
                        raise self._broken() from None
                    break  # incomplete: the rest comes with the next chunk
                if after == end and not final:
                    break  # a number may go on in the next chunk
                self.items.append(self._convert(element))
                self._need_comma, at = True, after
        self._buffer = buffer[at:]

    def _broken(self) -> MailcowUnavailable:
        return MailcowUnavailable(
            f"mailcow answered {self._template} with something that is not JSON.",
            reason="bad_response",
            endpoint=self._template,
            status=200,
        )


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _is_empty(raw: bytes) -> bool:
    """`{}` is mailcow's empty collection and unknown object (§3.3); `[]`/`null` mean the same."""
    return len(raw) < 16 and raw.strip() in (b"{}", b"[]", b"null")


def _looks_html(body: bytes) -> bool:
    return _HTML_START.match(body) is not None


def _backend(text: str) -> str | None:
    lowered = text.lower()
    return next((name for needle, name in _BACKENDS if needle in lowered), None)


def _error_msg(text: str) -> str:
    """`msg` of a router-level `{"type":"error","msg":…}` body, or the raw text."""
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(data, dict) and "msg" in data:
        return str(data["msg"])
    return text.strip()[:200]


def _plain(error: Exception) -> str:
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(error)).strip()
    return text or type(error).__name__


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed under an httpx error (httpx → httpcore → ssl), if one did."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    return cause


def _entry(raw: dict[str, Any]) -> Entry:
    """One `{type, msg, log}` entry, translated; `log` is dropped here and never looked at again."""
    msg = raw.get("msg")
    if isinstance(msg, list) and msg:
        key, args = str(msg[0]), tuple(str(a) for a in msg[1:])
    else:
        key, args = ("" if msg is None else str(msg)), ()
    return Entry(type=str(raw.get("type", "")), key=key, args=args, text=translate(key, args))


class MailcowClient:
    """mailcow's `/api/v1/` over one pooled `httpx.Client`, with typed reads and a read cache.

    Cached reads (domains, mailboxes, aliases, fail2ban, queue, status version) serve repeated calls
    for `cache_ttl` seconds, one fetch per key even when threads ask at once; `fresh=True` bypasses
    the cache and `age(name)` says how old the value last served for that name is. Every write
    clears the whole cache: simple, and never shows a list from before a change.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 10,
        verify_tls: bool | Path = True,
        tls_server_name: str | None = None,
        cache_ttl: float = 30,
        transport: httpx.BaseTransport | None = None,
        read_retries: int = 2,
        backoff: float = 0.25,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/api/v1")
        url = httpx.URL(self.base_url)
        self._host = url.host or self.base_url
        self._tls_server_name = tls_server_name
        self._extensions = {"sni_hostname": tls_server_name} if tls_server_name else {}
        headers = {"Host": url.copy_with(host=tls_server_name).netloc.decode()} if tls_server_name else {}
        verify = ssl.create_default_context(cafile=verify_tls) if isinstance(verify_tls, Path) else verify_tls
        self._timeout = timeout
        self._timeouts = httpx.Timeout(timeout)
        self._slow_timeouts = httpx.Timeout(timeout, read=max(timeout, SLOW_READ_TIMEOUT))
        self._read_retries = read_retries
        self._backoff = backoff
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v1/",
            headers={
                "X-API-Key": api_key.get_secret_value(),
                "Accept": "application/json",
                "User-Agent": "mailcow-chatops",
                **headers,
            },
            cookies=http.cookiejar.CookieJar(policy=_RefuseAllCookies()),
            follow_redirects=False,
            timeout=self._timeouts,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=30),
            verify=verify,
            transport=transport,
        )
        self._cache_ttl = cache_ttl
        self._cache: TTLCache[str, tuple[Any, float]] = TTLCache(maxsize=1024, ttl=max(cache_ttl, 0.001))
        self._cache_lock = threading.Lock()
        self._fetch_locks: dict[str, threading.Lock] = {}
        self._generation = 0
        self._served_at: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MailcowClient:
        return cls(
            settings.mailcow_url,
            settings.mailcow_api_key,
            timeout=settings.mailcow_timeout,
            verify_tls=settings.mailcow_verify_tls,
            tls_server_name=settings.mailcow_tls_server_name,
            cache_ttl=settings.cache_ttl,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MailcowClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- cache --------------------------------------------------------------------------------------

    def age(self, name: str) -> float | None:
        """Seconds since the value last served under cache `name` was fetched, None if never served.

        Names: `domains`, `mailboxes`, `aliases`, `fail2ban`, `queue`, `status_version`.
        """
        with self._cache_lock:
            fetched = self._served_at.get(name)
        return None if fetched is None else max(0.0, time.monotonic() - fetched)

    def invalidate(self) -> None:
        """Drop every cached read (done after each write)."""
        with self._cache_lock:
            self._cache.clear()
            self._generation += 1

    def _lookup(self, name: str, key: str) -> tuple[Any, float] | None:
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._served_at[name] = entry[1]
        if entry is not None:
            CACHE.labels(cache=name, result="hit").inc()
        return entry

    def _cached(self, name: str, key: str, fresh: bool, fetch: Callable[[], T]) -> T:
        if not fresh and (entry := self._lookup(name, key)) is not None:
            return cast(T, entry[0])
        with self._cache_lock:
            key_lock = self._fetch_locks.setdefault(key, threading.Lock())
        with key_lock:
            # Another thread may have fetched while this one waited for the key's lock.
            if not fresh and (entry := self._lookup(name, key)) is not None:
                return cast(T, entry[0])
            CACHE.labels(cache=name, result="miss").inc()
            with self._cache_lock:
                generation = self._generation
            value = fetch()
            fetched = time.monotonic()
            with self._cache_lock:
                # A write that ran during the fetch may have made this value stale: serve it, keep it not.
                if generation == self._generation and self._cache_ttl > 0:
                    self._cache[key] = (value, fetched)
                self._served_at[name] = fetched
            return value

    # --- HTTP ---------------------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        path: str,
        template: str,
        body: Any,
        timeout: httpx.Timeout,
        *,
        write: bool,
        stream: bool = False,
    ) -> httpx.Response:
        """One request. With `stream` only a 200's body is left unread, for the caller to read
        through `_streamed`; any other answer is read here, so the usual checks can judge it."""
        started = time.perf_counter()
        status: int | str = "failed"
        try:
            request = self._http.build_request(
                method, path, json=body, timeout=timeout, extensions=self._extensions
            )
            response = self._http.send(request, stream=stream)
            status = response.status_code
            if stream and status != 200:
                try:
                    response.read()
                finally:
                    response.close()
            return response
        except httpx.TimeoutException as error:
            status = "timeout"
            not_sent = isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout)
            limit = timeout.connect if isinstance(error, httpx.ConnectTimeout) else timeout.read
            message = f"mailcow did not answer {template} within {limit or self._timeout:g} s."
            if isinstance(error, httpx.ConnectTimeout):
                message += " Not even a connection: mailcow may be down, or its fail2ban banned the bot's IP."
            elif write:
                message += " " + _CHECK_OUTCOME
            raise MailcowUnavailable(
                message, reason="timeout", endpoint=template, outcome_unknown=write and not not_sent
            ) from error
        except httpx.TransportError as error:
            refused = _certificate_error(error)
            if refused is not None:
                status = "tls"
                raise MailcowUnavailable(
                    self._certificate_problem(refused), reason="tls", endpoint=template
                ) from error
            not_sent = isinstance(error, httpx.ConnectError)
            if not_sent:
                message = f"Could not connect to mailcow at {self._host}: {_plain(error)}."
            else:
                message = f"The connection to mailcow broke during {template}: {_plain(error)}."
                if write:
                    message += " " + _CHECK_OUTCOME
            raise MailcowUnavailable(
                message, reason="connection", endpoint=template, outcome_unknown=write and not not_sent
            ) from error
        finally:
            elapsed = time.perf_counter() - started
            MAILCOW_SECONDS.labels(endpoint=template).observe(elapsed)
            log.debug("mailcow %s %s -> %s in %.0f ms", method, template, status, elapsed * 1000)

    def _certificate_problem(self, error: ssl.SSLCertVerificationError) -> str:
        checked = self._tls_server_name or self._host
        if error.verify_code in _NAME_MISMATCH:
            return (
                f"mailcow's certificate at {self._host} does not match {checked}, the name the bot checks it "
                "against. Set MAILCOW_TLS_SERVER_NAME to the name on the certificate (MAILCOW_HOSTNAME in "
                "mailcow.conf, e.g. mail.example.org): the bot keeps connecting to MAILCOW_URL and checks "
                "the certificate against that name."
            )
        why = error.verify_message.rstrip(".")
        if error.verify_code in _UNTRUSTED_ISSUER:
            return (
                f"mailcow's certificate at {self._host} (for {checked}) is not signed by a CA the bot trusts "
                f"({why}). If it comes from your own CA, set MAILCOW_VERIFY_TLS to the path of that CA's "
                "certificate (PEM)."
            )
        return f"mailcow's certificate at {self._host} failed the check against {checked}: {why}."

    def _check_status(self, response: httpx.Response, template: str, *, write: bool) -> None:
        """Raise for anything but a 200 (SERVER-FACTS §3.2, §3.4)."""
        status = response.status_code
        if status == 200:
            return
        text = response.text
        msg = _error_msg(text)
        if status == 401:
            if msg.lower().startswith("api access denied for ip"):
                raise MailcowAuthError(
                    f"mailcow accepted the API key but not the bot's address ({msg}). {_CHECK_KEY}",
                    reason="ip_denied",
                    endpoint=template,
                    status=status,
                )
            raise MailcowAuthError(
                f"mailcow refused the API key ({msg or 'authentication failed'}). {_CHECK_KEY}",
                reason="wrong_key",
                endpoint=template,
                status=status,
            )
        if status == 403:
            if "read/write access denied" in msg.lower():
                raise MailcowAuthError(
                    f"mailcow refused {template} (API read/write access denied): the API key is read-only; "
                    "a read-write key is needed for changes (MAILCOW_API_KEY).",
                    reason="read_only",
                    endpoint=template,
                    status=status,
                )
            raise MailcowAuthError(
                f"mailcow refused {template} (HTTP 403{': ' + msg if msg else ''}).",
                reason="forbidden",
                endpoint=template,
                status=status,
            )
        if status >= 500:
            backend = _backend(text) if _looks_html(response.content) else None
            if backend:
                message = (
                    f"mailcow could not serve {template}: its connection to {backend} failed "
                    f"(HTTP {status}). "
                    "No mailcow API call works until that is back."
                )
            else:
                message = f"mailcow answered {template} with a server error (HTTP {status})."
            # mailcow checks its backends before routing, so a named backend means nothing ran.
            unknown = write and backend is None
            raise MailcowUnavailable(
                message + (" " + _CHECK_OUTCOME if unknown else ""),
                reason="server_error",
                endpoint=template,
                status=status,
                outcome_unknown=unknown,
            )
        if 300 <= status < 400 or _looks_html(response.content):
            where = response.headers.get("location")
            problem = f"redirected {template} to {where}" if where else f"answered {template} with a web page"
            raise MailcowUnavailable(
                f"mailcow {problem} (HTTP {status}); MAILCOW_URL should be the mailcow host's final address.",
                reason="bad_response",
                endpoint=template,
                status=status,
            )
        entry = Entry(type="error", key=msg, text=translate(msg))
        raise MailcowRejected(
            f"mailcow refused {template} (HTTP {status}): {entry.text}.",
            entries=[entry],
            endpoint=template,
            status=status,
        )

    def _read_body(self, response: httpx.Response, template: str) -> bytes:
        self._check_status(response, template, write=False)
        raw = response.content
        if not raw or raw.isspace():
            # §1.4/§3.4: what mailcow sends when no key arrived, or for a GET sub-route it does not know.
            raise MailcowAuthError(
                f"mailcow answered {template} with an empty body. Either the X-API-Key header never reached "
                "mailcow (a proxy in front of it may strip the header; MAILCOW_URL should point at mailcow "
                "itself) or this mailcow version does not know the request.",
                reason="no_key",
                endpoint=template,
                status=200,
            )
        if _looks_html(raw):
            raise MailcowUnavailable(
                f"mailcow answered {template} with a web page instead of data; MAILCOW_URL may point at the "
                "wrong place.",
                reason="bad_response",
                endpoint=template,
                status=200,
            )
        return raw

    def _get_body(self, path: str) -> bytes:
        return self._get(path, self._read_body)

    def _get(self, path: str, read: Callable[[httpx.Response, str], T], *, stream: bool = False) -> T:
        """GET with the read retries; `read(response, template)` turns the answer into the result."""
        template = endpoint_template(path)
        deadline = time.monotonic() + self._timeout * (self._read_retries + 1)
        attempt = 0
        while True:
            try:
                response = self._exchange(
                    "GET", path, template, None, self._timeouts, write=False, stream=stream
                )
                try:
                    return read(response, template)
                finally:
                    response.close()
            except MailcowUnavailable as error:
                delay = self._backoff * 2**attempt
                retry = (
                    error.reason in _RETRYABLE_READ
                    and attempt < self._read_retries
                    and time.monotonic() + delay < deadline
                )
                if not retry:
                    self._count_error(template, error)
                    raise
                log.debug(
                    "mailcow GET %s failed (%s); retry %d in %.2f s",
                    template,
                    error.reason,
                    attempt + 1,
                    delay,
                )
                attempt += 1
                time.sleep(delay)
            except MailcowError as error:
                self._count_error(template, error)
                raise

    @staticmethod
    def _count_error(template: str, error: MailcowError) -> None:
        kinds = ((MailcowAuthError, "auth"), (MailcowRejected, "rejected"))
        kind = next((name for cls, name in kinds if isinstance(error, cls)), "unavailable")
        MAILCOW_ERRORS.labels(endpoint=template, kind=kind).inc()

    # --- public low-level API -----------------------------------------------------------------------

    def get_json(self, path: str) -> Any:
        """GET `path` (relative to /api/v1/, e.g. `get/domain/all`) and decode the JSON."""
        raw = self._get_body(path)
        try:
            return json.loads(raw)
        except ValueError:
            raise MailcowUnavailable(
                f"mailcow answered {endpoint_template(path)} with something that is not JSON.",
                reason="bad_response",
                endpoint=endpoint_template(path),
                status=200,
            ) from None

    def get_text(self, path: str) -> str:
        """GET `path` as text (`get/postcat/…` answers raw text despite its JSON content type)."""
        return self._get_body(path).decode("utf-8", "replace")

    def write(self, call: ApiCall) -> WriteResult:
        """POST one built call and judge the answer by its entries (SERVER-FACTS §3.1).

        Raises `MailcowRejected` when any entry is danger/error (`partial` when some succeeded) or
        when mailcow answered only a generic "Task completed" where `call.expect` says a specific
        message means success. Retried only when the connection failed before anything was sent.
        """
        template = call.path
        timeout = self._slow_timeouts if call.slow else self._timeouts
        try:
            attempt = 0
            while True:
                try:
                    response = self._exchange("POST", call.path, template, call.body, timeout, write=True)
                    break
                except MailcowUnavailable as error:
                    sent = error.reason != "connection" or error.outcome_unknown
                    if sent or attempt >= self._read_retries:
                        raise
                    time.sleep(self._backoff * 2**attempt)
                    attempt += 1
            self._check_status(response, template, write=True)
            return self._write_result(call, response)
        except MailcowError as error:
            self._count_error(template, error)
            raise
        finally:
            self.invalidate()

    def _write_result(self, call: ApiCall, response: httpx.Response) -> WriteResult:
        template = call.path
        if not response.content or response.content.isspace():
            raise MailcowUnavailable(
                f"mailcow answered {template} with an empty body: it failed part-way. {_CHECK_OUTCOME}",
                reason="empty_body",
                endpoint=template,
                status=200,
                outcome_unknown=True,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        raw = [data] if isinstance(data, dict) else data
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise MailcowUnavailable(
                f"mailcow answered {template} with something the bot does not understand. {_CHECK_OUTCOME}",
                reason="bad_response",
                endpoint=template,
                status=200,
                outcome_unknown=True,
            )
        entries = [_entry(item) for item in raw]
        what = f"{template} for {call.target}"
        failed = [e.text for e in entries if e.failed]
        done = [e.text for e in entries if e.type == "success"]
        warnings = [e.text for e in entries if e.type == "warning"]
        if failed:
            if done:
                message = (
                    f"mailcow did only part of {what}. Done: {'; '.join(done)}. Refused: {'; '.join(failed)}."
                )
            else:
                message = f"mailcow refused {what}: {'; '.join(failed)}."
            if warnings:
                message += f" Warnings: {'; '.join(warnings)}."
            raise MailcowRejected(message, entries=entries, endpoint=template, status=200)
        if call.expect not in (None, "Task completed") and [e.key for e in entries] == ["Task completed"]:
            note = (
                f'mailcow answered only a generic "Task completed" to {what}, not its usual confirmation: '
                "it most likely did nothing."
            )
            raise MailcowRejected(
                note,
                entries=[Entry(type="warning", key="Task completed", text=note)],
                endpoint=template,
                status=200,
            )
        if not done:
            raise MailcowRejected(
                f"mailcow reported no success for {what}: {'; '.join(warnings) or 'no message at all'}.",
                entries=entries,
                endpoint=template,
                status=200,
            )
        return WriteResult(endpoint=template, entries=entries)

    # --- typed reads --------------------------------------------------------------------------------

    def _parse(self, template: str, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except ValidationError:
            raise self._not_understood(template) from None

    def _list(self, model: type[M], path: str) -> list[M]:
        raw = self._get_body(path)
        if _is_empty(raw):
            return []
        adapter = _list_adapter(model)
        return cast(list[M], self._parse(endpoint_template(path), lambda: adapter.validate_json(raw)))

    def _streamed(self, item: type[T], path: str) -> list[T]:
        """A list read decoded one element at a time as the body arrives: the body is never held
        whole, no element outlives its decoding but as an `item`, and other threads get the GIL
        between elements (50,000 mailboxes: peak memory +15 MB instead of +380 MB).
        Anything but a JSON list (`{}`, an error, a web page) gets the checks of every other read."""
        adapter = TypeAdapter(item)

        def read(response: httpx.Response, template: str) -> list[T]:
            if response.status_code != 200:
                self._read_body(response, template)  # raises
            items = _JsonArrayItems(template, adapter.validate_python)
            try:
                for chunk in response.iter_bytes():
                    items.feed(chunk)
                items.finish()
            except ValidationError:
                raise self._not_understood(template) from None
            except httpx.TransportError as error:  # a timeout is one too
                stalled = isinstance(error, httpx.TimeoutException)
                raise MailcowUnavailable(
                    f"mailcow stopped sending {template} for {self._timeout:g} s."
                    if stalled
                    else f"The connection to mailcow broke during {template}: {_plain(error)}.",
                    reason="timeout" if stalled else "connection",
                    endpoint=template,
                ) from error
            if items.not_a_list is None:
                return items.items
            raw = self._read_body(httpx.Response(200, content=items.not_a_list), template)
            if _is_empty(raw):
                return []
            raise self._not_understood(template)

        return self._get(path, read, stream=True)

    def _not_understood(self, template: str) -> MailcowUnavailable:
        error = MailcowUnavailable(
            f"mailcow answered {template} with data the bot does not understand.",
            reason="bad_response",
            endpoint=template,
            status=200,
        )
        self._count_error(template, error)
        return error

    def _one(self, model: type[M], path: str) -> M | None:
        raw = self._get_body(path)
        if _is_empty(raw):
            return None
        return self._parse(endpoint_template(path), lambda: model.model_validate_json(raw))

    def domains(self, *, fresh: bool = False) -> list[Domain]:
        return list(self._cached("domains", "domains", fresh, lambda: self._list(Domain, "get/domain/all")))

    def domain(self, name: str) -> Domain | None:
        """One domain, or None. An alias domain answers with its target domain (§4.1)."""
        return self._one(Domain, f"get/domain/{_segment(name.strip().lower())}")

    def mailboxes(self, domain: str | None = None, *, fresh: bool = False) -> list[Mailbox]:
        path = "get/mailbox/all" if domain is None else f"get/mailbox/all/{_segment(domain.strip().lower())}"
        return list(self._cached("mailboxes", path, fresh, lambda: self._list(Mailbox, path)))

    def mailbox_names(self, *, fresh: bool = False) -> list[MailboxName]:
        """Every mailbox's address, name and domain, for type-ahead at any size: from
        `get/mailbox/reduced` (mailcow skips queries it needs for `all`, §4.2), decoded as it arrives
        into `MailboxName`s, and cached on its own."""
        path = "get/mailbox/reduced"
        return list(self._cached("mailbox_names", path, fresh, lambda: self._streamed(MailboxName, path)))

    def mailbox(self, address: str) -> Mailbox | None:
        """One mailbox, or None. An address that nginx/PHP would mangle in a path (§2.1) is found by
        listing its domain instead."""
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        if _is_path_safe(address):
            return self._one(Mailbox, f"get/mailbox/{_segment(address)}")
        return next((m for m in self.mailboxes(domain, fresh=True) if m.username.lower() == address), None)

    def aliases(self, domain: str | None = None, *, fresh: bool = False) -> list[Alias]:
        """Aliases (mailbox self-aliases excluded by mailcow), of all domains or of one."""
        path = "get/alias/all" if domain is None else f"get/alias/all/{_segment(domain.strip().lower())}"
        return list(self._cached("aliases", path, fresh, lambda: self._list(Alias, path)))

    def alias(self, id_or_address: str | int) -> Alias | None:
        key = str(id_or_address).strip().lower()
        if key.isdigit() or _is_path_safe(key):
            return self._one(Alias, f"get/alias/{_segment(key)}")
        domain = key.rpartition("@")[2]
        return next((a for a in self.aliases(domain, fresh=True) if a.address.lower() == key), None)

    def queue(self, *, fresh: bool = False) -> list[QueueItem]:
        """The mail queue. mailcow answers `[]` also when postfix or dockerapi is unreachable (§4.4):
        cross-check an empty queue with `status_containers()`."""
        return list(self._cached("queue", "queue", fresh, lambda: self._list(QueueItem, "get/mailq/all")))

    def postcat(self, qid: str) -> str:
        """The raw queued message (`postcat -q`)."""
        if not _QUEUE_ID.match(qid.strip()):
            raise ValueError(f"{qid!r} is not a queue id (queue ids are hexadecimal)")
        return self.get_text(f"get/postcat/{qid.strip().upper()}")

    def fail2ban(self, *, fresh: bool = False) -> Fail2ban:
        def fetch() -> Fail2ban:
            return self._one(Fail2ban, "get/fail2ban") or Fail2ban()

        return self._cached("fail2ban", "fail2ban", fresh, fetch)

    def logs(self, log_type: str, count: int | None = None) -> list[LogEntry]:
        """Newest first. Without `count` mailcow sends its default of 1000 lines (§4.6)."""
        if log_type not in LOG_TYPES:
            raise ValueError(f"unknown log type {log_type!r}; known: {', '.join(LOG_TYPES)}")
        if count is not None and count < 1:
            raise ValueError("the number of log lines is at least 1")
        # No trailing slash: `get/logs/postfix/` answers `{}` (§2.1).
        path = f"get/logs/{log_type}" if count is None else f"get/logs/{log_type}/{count}"
        return self._list(LogEntry, path)

    def quarantine(self) -> list[QuarantineItem]:
        return self._list(QuarantineItem, "get/quarantine/all")

    def dkim(self, domain: str) -> DkimKey | None:
        return self._one(DkimKey, f"get/dkim/{_segment(domain.strip().lower())}")

    def domain_admins(self) -> list[DomainAdmin]:
        return self._list(DomainAdmin, "get/domain-admin/all")

    def syncjobs(self) -> list[SyncJob]:
        """Sync jobs without their (possibly huge) imapsync log and without passwords."""
        return self._list(SyncJob, "get/syncjobs/all/no_log")

    def fwdhosts(self) -> list[ForwardingHost]:
        return self._list(ForwardingHost, "get/fwdhost/all")

    def bcc_maps(self) -> list[BccMap]:
        return self._list(BccMap, "get/bcc/all")

    def recipient_maps(self) -> list[RecipientMap]:
        return self._list(RecipientMap, "get/recipient_map/all")

    def tls_policy_maps(self) -> list[TlsPolicyMap]:
        return self._list(TlsPolicyMap, "get/tls-policy-map/all")

    def domain_policies(self, domain: str, kind: Literal["wl", "bl"]) -> list[DomainPolicy]:
        """Spam allow (`wl`) or deny (`bl`) entries of a domain, including its mailboxes' entries."""
        if kind not in ("wl", "bl"):
            raise ValueError("the policy list is wl (allow) or bl (deny)")
        return self._list(DomainPolicy, f"get/policy_{kind}_domain/{_segment(domain.strip().lower())}")

    def oauth2_clients(self) -> list[OAuth2Client]:
        return self._list(OAuth2Client, "get/oauth2-client/all")

    def rl_mailboxes(self) -> list[RateLimit]:
        """Mailboxes that have a rate limit of their own."""
        return self._list(RateLimit, "get/rl-mbox/all")

    def rl_domains(self) -> list[RateLimit]:
        return self._list(RateLimit, "get/rl-domain/all")

    def status_version(self, *, fresh: bool = False) -> str:
        def fetch() -> str:
            data = self.get_json("get/status/version")
            return str(data.get("version", "")) if isinstance(data, dict) else ""

        return self._cached("status_version", "status_version", fresh, fetch)

    def status_containers(self) -> dict[str, ContainerStatus] | None:
        """Containers by compose service name; None when dockerapi could not be asked (body `null`)."""
        data = self.get_json("get/status/containers")
        if not isinstance(data, dict):
            return None
        return self._parse(
            "get/status/containers",
            lambda: {
                name: ContainerStatus.model_validate({**info, "name": name})
                for name, info in data.items()
                if isinstance(info, dict)
            },
        )

    def status_vmail(self) -> VmailStatus | None:
        return self._one(VmailStatus, "get/status/vmail")

    def password_policy(self) -> PasswordPolicy:
        return self._one(PasswordPolicy, "get/passwordpolicy") or PasswordPolicy()

    def last_login(self, address: str) -> LastLogin:
        """Last UI login and recent SASL logins of a mailbox (default window: 7 days)."""
        return self._one(LastLogin, f"get/last-login/{_segment(address.strip().lower())}") or LastLogin()
