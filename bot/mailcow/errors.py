"""Typed mailcow failures.

mailcow answers most failures with HTTP 200 and `type: danger` (SERVER-FACTS §0.1), so the client
decides success from the body and raises one of these. Each carries `user_message`: plain words a
person in Slack can act on. None of them ever carries the API key or the `log` field of a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class MailcowError(Exception):
    """Base class: something about a mailcow call went wrong."""

    def __init__(self, user_message: str, *, endpoint: str = "", status: int | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.endpoint = endpoint
        self.status = status


class MailcowAuthError(MailcowError):
    """The key was refused: wrong key, this host's IP not allowed, or a read-only key on a write.

    Never retried: every 401 counts towards mailcow banning the bot's IP (SERVER-FACTS §1.4).
    `reason` is one of `wrong_key`, `ip_denied`, `read_only`, `no_key`, or `forbidden` for any other 403.
    """

    def __init__(
        self, user_message: str, *, reason: str, endpoint: str = "", status: int | None = None
    ) -> None:
        super().__init__(user_message, endpoint=endpoint, status=status)
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """One `{type, msg}` entry of a write answer, translated; the `log` field is dropped on purpose."""

    type: str
    key: str
    args: tuple[str, ...] = ()
    text: str = ""

    @property
    def failed(self) -> bool:
        return self.type in {"danger", "error"}


@dataclass
class WriteResult:
    """What a successful write answered: every entry, translated. Warnings are kept, not hidden."""

    endpoint: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def warnings(self) -> list[Entry]:
        return [e for e in self.entries if e.type == "warning"]

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.entries]


class MailcowRejected(MailcowError):
    """mailcow refused the request (a `danger`/`error` entry), possibly after doing part of it.

    `entries` holds every entry of the answer, so a caller can say which items went through.
    """

    def __init__(
        self, user_message: str, *, entries: list[Entry], endpoint: str = "", status: int | None = None
    ):
        super().__init__(user_message, endpoint=endpoint, status=status)
        self.entries = entries

    @property
    def partial(self) -> bool:
        return any(e.type == "success" for e in self.entries)


class MailcowUnavailable(MailcowError):
    """mailcow could not answer: timeout, refused connection, 5xx, HTML or an empty body.

    `reason` is one of `timeout`, `connection`, `server_error`, `empty_body`, `bad_response`, or `tls`
    (the certificate check failed: nothing was sent, and a retry cannot help, so none is made).
    For a write, `outcome_unknown` is true when the request may have reached mailcow (a read timeout):
    the caller must not retry blindly and must tell the person to check.
    """

    def __init__(
        self,
        user_message: str,
        *,
        reason: str,
        endpoint: str = "",
        status: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(user_message, endpoint=endpoint, status=status)
        self.reason = reason
        self.outcome_unknown = outcome_unknown
