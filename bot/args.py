"""Command-text parsing shared by every command: tokens, `key=value` options, and validators that say
which argument was wrong and what form was expected.

Slack rewrites what people type (the manifest sets `should_escape: true`): `&`, `<`, `>` arrive as
entities, e-mail addresses as `<mailto:a@b|a@b>`, links as `<https://…|label>`, channels as
`<#C123|name>`, users as `<@U123>`, and phones turn quotes into curly ones. `tokenize` undoes all of
that, so commands see what the person meant.
"""

from __future__ import annotations

import html
import ipaddress
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

_SLACK_LINK = re.compile(r"<(?P<target>[^<>|]+)(?:\|(?P<label>[^<>]*))?>")
_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "\u00a0": " "}
)
_OPTION = re.compile(r"^(?P<key>[a-z][a-z0-9_-]*)=(?P<value>.*)$", re.DOTALL)

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+(xn--[a-z0-9-]{2,59}|[a-z]{2,63})$")
LOCAL_PART_RE = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$", re.IGNORECASE)
QUEUE_ID_RE = re.compile(r"^[0-9A-F]{5,20}$")


class UsageError(Exception):
    """The person typed something we cannot act on; `str()` says what and how to fix it."""

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.message}\nUsage: `{self.usage}`" if self.usage else self.message


def _unwrap_slack_markup(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        target, label = match.group("target"), match.group("label")
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if target.startswith("#"):
            return target[1:]  # a channel mention: keep the ID, which is what commands need
        if target.startswith("@"):
            return target[1:]
        if target.startswith("!subteam^"):
            return target.removeprefix("!subteam^")
        return label or target

    return _SLACK_LINK.sub(replace, text)


def tokenize(text: str) -> list[str]:
    """Split command text into tokens, honouring quotes; unbalanced quotes fall back to whitespace."""
    text = html.unescape(_unwrap_slack_markup(text.translate(_QUOTES)))
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


@dataclass
class Args:
    """Positional arguments and `key=value` options of one command, consumed as the command reads them."""

    positional: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    usage: str | None = None

    @classmethod
    def parse(cls, tokens: list[str], usage: str | None = None) -> Args:
        args = cls(usage=usage)
        for token in tokens:
            match = _OPTION.match(token)
            if match:
                args.options[match.group("key").replace("-", "_")] = match.group("value")
            else:
                args.positional.append(token)
        return args

    def error(self, message: str) -> UsageError:
        return UsageError(message, usage=self.usage)

    def take(self, name: str) -> str:
        """The next positional argument, which must be there."""
        if not self.positional:
            raise self.error(f"{name} is missing.")
        return self.positional.pop(0)

    def take_optional(self) -> str | None:
        return self.positional.pop(0) if self.positional else None

    def rest(self) -> list[str]:
        rest, self.positional = self.positional, []
        return rest

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.options.pop(key, default)

    def done(self) -> None:
        """Refuse leftovers, so a typo is reported instead of silently ignored."""
        if self.positional:
            raise self.error(f"unexpected argument `{self.positional[0]}`.")
        if self.options:
            keys = ", ".join(f"`{k}=`" for k in self.options)
            raise self.error(f"unknown option {keys}.")

    def __iter__(self) -> Iterator[str]:
        return iter(self.positional)


def domain(value: str, what: str = "domain") -> str:
    value = value.strip().lower().rstrip(".")
    try:
        ascii_value = value.encode("idna").decode("ascii") if not value.isascii() else value
    except UnicodeError:
        ascii_value = value
    if not DOMAIN_RE.match(ascii_value):
        raise UsageError(f"`{value}` is not a valid {what}; expected a name like `example.org`.")
    return ascii_value


def address(value: str, what: str = "address") -> str:
    value = value.strip()
    local, at, dom = value.rpartition("@")
    if not at or not local or not dom or not LOCAL_PART_RE.match(local) or len(local) > 64:
        raise UsageError(f"`{value}` is not a valid e-mail {what}; expected `name@example.org`.")
    return f"{local.lower()}@{domain(dom, 'domain in ' + value)}"


def address_or_domain(value: str) -> str:
    return address(value) if "@" in value else domain(value)


def ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        raise UsageError(
            f"`{value}` is not an IP address; expected IPv4 like `203.0.113.7` or IPv6 like `2001:db8::7`."
        ) from None


def network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise UsageError(
            f"`{value}` is not an IP address or network; "
            "expected `203.0.113.7`, `203.0.113.0/24` or `2001:db8::/48`."
        ) from None


def integer(value: str, what: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise UsageError(f"{what} must be a whole number, not `{value}`.") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"{what} must be at least {minimum}, not {number}.")
    if maximum is not None and number > maximum:
        raise UsageError(f"{what} must be at most {maximum}, not {number}.")
    return number


def flag(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "yes", "true", "on", "y"}:
        return True
    if lowered in {"0", "no", "false", "off", "n"}:
        return False
    raise UsageError(f"{what} must be yes or no, not `{value}`.")


def queue_id(value: str) -> str:
    upper = value.strip().upper()
    if not QUEUE_ID_RE.match(upper):
        raise UsageError(
            f"`{value}` is not a Postfix queue ID; expected a hex ID like `3F2A1B9C0D` (see `queue show`)."
        )
    return upper
