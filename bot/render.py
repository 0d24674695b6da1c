"""Block Kit helpers every command shares: escaping, Slack's size limits, lists that page, CSV.

Builders return slack-sdk block models, which refuse oversize parts when serialised; the helpers
here cut text *before* that, so a 10,000-line queue becomes valid messages instead of an error.
Limits (Slack's): 50 blocks a message, 3000 characters a section text, 10 fields of 2000 a section,
150 for a header, 10 context elements, 2000 for a button value.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_CONTEXT = 10
MAX_BUTTON_VALUE = 2000
MAX_TEXT = 3000  # the `text` fallback of a message; Slack truncates at 40k, but notifications need far less

PAGE_PREV = "page_prev"
PAGE_NEXT = "page_next"


def esc(value: object) -> str:
    """Escape text from mailcow or users for mrkdwn, so `<!channel>` or `<@U…>` in a subject stays text."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(value: object) -> str:
    """Inline code; backticks inside would end it early, so they become quotes."""
    text = esc(value).replace("`", "'")
    return f"`{text}`" if text else "` `"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, MAX_HEADER))


def section(text: str, *, accessory: Any = None, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(
        text=MarkdownTextObject(text=clip(text, MAX_SECTION)), accessory=accessory, block_id=block_id
    )


def fields(pairs: Iterable[tuple[str, object]]) -> list[Block]:
    """`*label*\\nvalue` fields, ten to a section."""
    items = [MarkdownTextObject(text=clip(f"*{label}*\n{value}", MAX_FIELD)) for label, value in pairs]
    return [SectionBlock(fields=items[i : i + MAX_FIELDS]) for i in range(0, len(items), MAX_FIELDS)]


def context(*texts: str) -> ContextBlock:
    elements = [MarkdownTextObject(text=clip(t, MAX_FIELD)) for t in texts if t][:MAX_CONTEXT]
    return ContextBlock(elements=elements or [MarkdownTextObject(text=" ")])


def divider() -> DividerBlock:
    return DividerBlock()


def lines_to_sections(lines: Iterable[str], *, limit: int = MAX_SECTION) -> list[Block]:
    """Pack lines into as few sections as fit; a single overlong line is cut, never dropped."""
    blocks: list[Block] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = clip(raw, limit)
        if current and size + len(line) + 1 > limit:
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def preformatted(text: str, *, limit: int = MAX_SECTION) -> list[Block]:
    """Monospace text (log lines, DNS records) split on line boundaries into ``` sections."""
    inner = limit - 8
    chunks: list[str] = []
    current = ""
    for raw in esc(text).replace("```", "'''").splitlines() or [""]:
        line = clip(raw, inner)
        if current and len(current) + len(line) + 1 > inner:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    chunks.append(current)
    return [section(f"```{chunk}```") for chunk in chunks]


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: tuple[str, str, str] | None = None,
) -> ButtonElement:
    """A button; `confirm` is (title, text, confirm-label) for a dialog before anything happens."""
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(
            f"button value for {action_id} is {len(value)} characters; Slack allows {MAX_BUTTON_VALUE}"
        )
    dialog = None
    if confirm is not None:
        title, body, yes = confirm
        dialog = ConfirmObject(
            title=clip(title, 100), text=clip(body, 300), confirm=clip(yes, 30), deny="Cancel"
        )
    return ButtonElement(text=clip(text, 75), action_id=action_id, value=value, style=style, confirm=dialog)


def actions(*elements: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(elements)[:25], block_id=block_id)


def split_messages(blocks: Sequence[Block], limit: int = MAX_BLOCKS) -> list[list[Block]]:
    """Split a long detail view into messages of at most `limit` blocks each."""
    return [list(blocks[i : i + limit]) for i in range(0, len(blocks), limit)] if blocks else []


def number(value: float) -> str:
    return f"{value:,.0f}"


def size(value: float | None) -> str:
    if value is None:
        return "?"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def duration(seconds: float) -> str:
    """Coarse human duration: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(timestamp: float | None, now: float | None = None) -> str:
    if not timestamp:
        return "never"
    return f"{duration((now or time.time()) - timestamp)} ago"


def utc(timestamp: float) -> str:
    """Unix time as `2026-08-05 14:03:11Z`; 0 (mailcow's "never") as `?`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if timestamp else "?"


def freshness(age: float | None) -> str:
    """How old cached data is, for answers where staleness matters."""
    if age is None or age < 1:
        return "just read from mailcow"
    return f"as of {duration(age)} ago (cached)"


@dataclass
class Listing:
    """A list that may not fit one message: shown a page at a time, with the whole list as CSV."""

    title: str
    rows: Sequence[Any]
    line: Callable[[Any], str]
    csv_columns: Sequence[str] = ()
    csv_row: Callable[[Any], Sequence[object]] | None = None
    per_page: int = 25
    empty: str = "Nothing to show."
    filename: str = "list.csv"
    csv_threshold: int = 100
    note: str = ""
    extra_blocks: list[Block] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.rows) / self.per_page))

    @property
    def wants_csv(self) -> bool:
        return self.csv_row is not None and len(self.rows) > self.csv_threshold

    def page_blocks(self, page: int, pager_command: str | None) -> list[Block]:
        """Blocks for one page (clamped to the range); Prev/Next carry the command to re-run."""
        page = min(max(1, page), self.pages)
        start = (page - 1) * self.per_page
        chunk = self.rows[start : start + self.per_page]
        blocks: list[Block] = [section(f"*{esc(self.title)}*")]
        if not chunk:
            blocks.append(section(self.empty))
            return blocks
        blocks.extend(lines_to_sections(self.line(row) for row in chunk))
        summary = f"{number(start + 1)}–{number(start + len(chunk))} of {number(len(self.rows))}"
        if self.pages > 1:
            summary = f"Page {page} of {self.pages} · {summary}"
        blocks.append(context(summary, self.note))
        if self.pages > 1 and pager_command is not None:
            buttons = []
            if page > 1:
                buttons.append(button("◀ Prev", PAGE_PREV, pager_value(pager_command, page - 1)))
            if page < self.pages:
                buttons.append(button("Next ▶", PAGE_NEXT, pager_value(pager_command, page + 1)))
            blocks.append(actions(*buttons))
        return blocks[:MAX_BLOCKS]

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.csv_columns)
        writer.writerows(map(_csv_safe, map(self.csv_row or _one_cell, self.rows)))
        return buffer.getvalue()


_FORMULA = ("=", "+", "-", "@")


def _one_cell(row: object) -> Sequence[object]:
    return (row,)


def _csv_safe(cells: Sequence[object]) -> Sequence[object]:
    """Keep spreadsheet programs from executing cells that start like a formula: such text gets a
    leading quote. Almost no row has one, so a row is only rebuilt when it does."""
    for value in cells:
        if isinstance(value, str) and value.startswith(_FORMULA):
            return ["'" + v if isinstance(v, str) and v.startswith(_FORMULA) else v for v in cells]
    return cells


def pager_value(command_text: str, page: int) -> str:
    return json.dumps({"cmd": command_text, "page": page}, separators=(",", ":"))


def parse_pager_value(value: str) -> tuple[str, int]:
    data = json.loads(value)
    return str(data["cmd"]), int(data["page"])
