"""Logging: one line per event (JSON by default), carrying the request's correlation id, with secrets
redacted on the way out.

Redaction happens in a handler-level filter, after the message is formatted, so a secret that slips
into any log call (ours, Bolt's, httpx's) is replaced before it is written. Known secrets are the
settings' tokens and key, plus every password the bot generates or receives (`register_secret`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")

_TOKEN_PATTERN = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)")
_REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 6


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
        text = _TOKEN_PATTERN.sub(_REDACTED, text)
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                if not self._values:
                    return text
                alternatives = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))
        return pattern.sub(_REDACTED, text)


_secrets = _SecretRegistry()


def register_secret(value: str | None) -> None:
    """Make sure this exact value never reaches a log line."""
    if value:
        _secrets.add(value)


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def redact(text: str) -> str:
    """Replace every known secret and Slack token in `text`."""
    return _secrets.scrub(text)


class RedactingFilter(logging.Filter):
    """Formats the record's message once, scrubs it, and freezes it so handlers print the clean text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
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
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(cid)s] %(message)s")


def configure(level: str = "INFO", fmt: str = "json", stream: object = None) -> None:
    """Install one handler on the root logger; safe to call again (it replaces ours)."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name("mailcow-chatops")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "mailcow-chatops":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; ours are logged by the clients with the key left out.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
