"""The list/show plumbing shared by the configuration areas (OAuth2 clients, sync jobs, maps, …).

Those areas differ only in their rows: how one reads in Slack and which CSV columns it has. A
`Table` holds exactly that, and turns rows into a `Reply` whose headline counts them (or says
*none*, which is what mailcow's `{}` means) and whose thread pages through them with a CSV attached
when long. `record_reply` and `not_found` are the `show` counterparts, so every area answers the same
way. The small wording helpers below (`slash`, `active`, `rate_text`, …) and `parsed` are shared by
every command module, so a thing reads the same wherever it appears.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from slack_sdk.models.blocks import Block

from bot.args import UsageError
from bot.render import Listing, code, context, esc, fields, number
from bot.reply import Reply, Status
from commands import Call

Row = TypeVar("Row")
T = TypeVar("T")


@dataclass(frozen=True)
class Table(Generic[Row]):
    """How one area's rows read: a line for the thread and the cells of a CSV row."""

    plural: str
    """Capitalised, as it opens the headline: "OAuth2 clients"."""
    line: Callable[[Row], str]
    columns: Sequence[str]
    cells: Callable[[Row], Sequence[object]]
    filename: str
    per_page: int = 25

    def reply(
        self,
        rows: Sequence[Row],
        *,
        scope: str = "",
        summary: Iterable[str] = (),
        headline: str | None = None,
        blocks: Iterable[Block] = (),
        notes: Iterable[str] = (),
        status: Status = "info",
    ) -> Reply:
        """`rows` as a reply. `scope` narrows the title ("of example.org"), `summary` parts follow the
        count in the headline, `blocks` open the thread, and `notes` go under every page of the list
        (or stand alone when there is nothing to list)."""
        title = f"{self.plural} {scope}".strip()
        count = f"*{number(len(rows))}*" if rows else "*none*"
        count += "".join(f" · {part}" for part in summary if part)
        hints = [n for n in notes if n]
        thread = [*blocks]
        if hints and not rows:
            thread.append(context(*hints))
        listing = (
            Listing(
                title=title,
                rows=rows,
                line=self.line,
                csv_columns=self.columns,
                csv_row=self.cells,
                per_page=self.per_page,
                filename=self.filename,
                note=" ".join(hints),
            )
            if rows
            else None
        )
        return Reply(
            headline=headline or f"{esc(title)}: {count}", blocks=thread, listing=listing, status=status
        )


def record_reply(
    headline: str, pairs: Iterable[tuple[str, object]], *notes: str, status: Status = "info"
) -> Reply:
    """A `show` answer: the headline, then the record's fields, then notes (hints, secrets withheld)."""
    blocks: list[Block] = fields(pairs)
    if any(notes):
        blocks.append(context(*notes))
    return Reply(headline=headline, blocks=blocks, status=status)


def not_found(call: Call, what: str, list_usage: str) -> Reply:
    """The `show` answer for a key mailcow does not know, pointing at the list that has the real ones."""
    return Reply(
        headline=f"There is no {what}.",
        blocks=[context(f"{slash(call, list_usage)} lists them.")],
        status="warn",
    )


def slash(call: Call, text: str) -> str:
    """A command the person can copy, spelled with this workspace's slash command."""
    return code(f"{call.services.settings.command} {text}")


def active(value: int) -> str:
    """mailcow's `active` column (0/1) in words, for lines and fields alike."""
    return "active" if value else "inactive"


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def plural(count: int, word: str, many: str = "") -> str:
    """`1 mailbox`, `5,000 mailboxes`."""
    return f"{number(count)} {word if count == 1 else many or word + 's'}"


FRAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
"""mailcow's rate-limit time frames (SERVER-FACTS §4.17) in words."""


class Rate(Protocol):
    """A rate limit as mailcow gives it: on a domain or mailbox, or as an entry of the rate-limit lists."""

    @property
    def value(self) -> int: ...

    @property
    def frame(self) -> str: ...


def rate_text(limit: Rate | None) -> str:
    """`10 messages per hour`; `none` for no limit (mailcow's `0`, or no limit object at all)."""
    if limit is None or not limit.value:
        return "none"
    return f"{number(limit.value)} messages per {FRAMES.get(limit.frame, limit.frame or '?')}"


def parsed(call: Call, validate: Callable[[str], T], raw: str) -> T:
    """A `bot.args` validator's result; its complaint gets the command's usage line added."""
    try:
        return validate(raw)
    except UsageError as error:
        raise call.args.error(error.message) from None
