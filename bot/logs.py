"""Logging: one line per event (JSON by default), carrying the request's correlation id, with secrets
redacted on the way out.

Redaction happens in a filter on our one root handler, after the message is formatted, so a secret
that slips into any log call (ours, Bolt's, slack_sdk's, httpx's, uvicorn's) is replaced before it
is written: in the message, its `%s` arguments, `extra` fields, exception text and stack. `configure`
makes the libraries' loggers hand their records to that handler instead of printing them their own
way. What is scrubbed:
- exact values: the settings' tokens, signing secret and API key, the database password, and every
  password the bot generates or receives (`register_secret`);
- shapes, for secrets nobody registered: Slack tokens (`xoxb-…`, `xapp-…`, `xoxe.xoxp-…`), mailcow
  API keys (`XXXXXX-XXXXXX-XXXXXX-XXXXXX-XXXXXX`, e.g. the read-only key) and the password in any
  `scheme://user:password@host` URL.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bot.settings import Settings

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")

_REDACTED = "[redacted]"
_SHAPES = (
    (re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+"), _REDACTED),
    (re.compile(r"\b[0-9A-Fa-f]{6}(?:-[0-9A-Fa-f]{6}){4}\b"), _REDACTED),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{_REDACTED}@"),
)
_MIN_SECRET_LENGTH = 6
_HANDLER_NAME = "mailcow-chatops"
_LIBRARIES = ("slack_bolt", "slack_sdk", "httpx", "httpcore", "uvicorn", "sqlalchemy", "starlette")


class _SecretRegistry:
    """Exact secret values to scrub; bounded so a long-running bot does not grow without end."""

    def __init__(self, limit: int = 10_000) -> None:
        self._values: dict[str, None] = {}
        self._lock = threading.Lock()
        self._limit = limit
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._values:
                return
            self._values[value] = None
            while len(self._values) > self._limit:
                self._values.pop(next(iter(self._values)))
            self._pattern = None

    def scrub(self, text: str) -> str:
        # Exact values first: a registered password may itself contain something token-shaped.
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                if self._values:
                    alternatives = sorted(self._values, key=len, reverse=True)
                    pattern = self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))
        if pattern is not None:
            text = pattern.sub(_REDACTED, text)
        for shape, replacement in _SHAPES:
            text = shape.sub(replacement, text)
        return text


_secrets = _SecretRegistry()


def register_secret(value: str | None) -> None:
    """Make sure this exact value never reaches a log line."""
    if value:
        _secrets.add(value)


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def register_settings_secrets(settings: Settings) -> None:
    """Every secret the settings hold, including a password inside CHATOPS_DATABASE_URL."""
    register_secrets(
        secret.get_secret_value() if secret else None
        for secret in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.mailcow_api_key,
            settings.secret_key,
        )
    )
    # An unparsable URL fails later, at connect time, with its own message.
    with contextlib.suppress(ValueError):
        register_secret(urlsplit(settings.database_url).password)


def redact(text: str) -> str:
    """Replace every known secret, Slack token, mailcow key and URL password in `text`."""
    return _secrets.scrub(text)


class RedactingFilter(logging.Filter):
    """Formats the record's message once, scrubs it, and freezes it so handlers print the clean text.

    It also stamps the correlation id (`cid`) on the record. A record whose arguments do not fit its
    format string (a bug in whoever logged it) still becomes a line instead of an exception there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!s} (unformattable arguments: {record.args!r})"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.cid = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    _SKIP = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {"cid", "message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "cid": getattr(record, "cid", "-"),
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._SKIP and not key.startswith("_"):
                entry[key] = (
                    value if isinstance(value, int | float | bool | type(None)) else redact(str(value))
                )
        if record.exc_text:
            entry["error"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(cid)s] %(message)s")


def configure(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> logging.Handler:
    """Install our one handler on the root logger and route every library through it.

    Safe to call again (it replaces ours). Returns the handler, so tests can read what it wrote.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _library_loggers():
        # A library that printed through its own handler (uvicorn's default config does) would
        # bypass redaction and the JSON format; its records go to the root handler instead.
        library = logging.getLogger(name)
        for own in list(library.handlers):
            if not isinstance(own, logging.NullHandler):
                library.removeHandler(own)
        library.propagate = True
    # httpx logs every request URL at INFO; ours are logged by the clients with the key left out.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return handler


def _library_loggers() -> list[str]:
    known = [name for name in logging.root.manager.loggerDict if name.partition(".")[0] in _LIBRARIES]
    return sorted({*_LIBRARIES, *known})
