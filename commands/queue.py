"""`/mailcow queue …`: the on-call view of Postfix's queue, and the queue actions.

`queue` answers the 3 a.m. questions in the parent message (how many, which queues, how old) and
puts the why in the thread: top sender and recipient domains, top deferral reasons, then every
message a page at a time (CSV when long). mailcow answers `[]` both for an empty queue and when it
cannot reach Postfix (SERVER-FACTS §4.4), so an empty answer is cross-checked against the postfix
container's state before we say "empty".

The actions are plans on the one target `queue` (so two never interleave): `flush`, `delete ID…`,
`delete all` and `hold ID…` need an approval; `release ID…` (unhold) runs at once for an operator.
Their target state is the size of each queue for whole-queue actions, and where each listed message
is for the others; so a flush approved after the queue changed is refused, while unrelated mail
arriving does not block a hold of one message.

`queue watch` puts thresholds on the queue (total, deferred, age of the oldest message not on hold)
for the on-call: one alert per incident, updated in place, with Show deferred, Flush and Snooze
buttons; the mechanics are in `bot/watch.py`, what is measured is here.
"""

from __future__ import annotations

import functools
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

from slack_bolt import App
from slack_sdk.models.blocks import Block

from bot import watch
from bot.args import queue_id
from bot.mailcow import ApiCall, MailcowClient, MailcowError, QueueItem, calls
from bot.plans import Plan, StateRef, state_reader
from bot.render import (
    Listing,
    code,
    context,
    duration,
    esc,
    fields,
    freshness,
    lines_to_sections,
    number,
    size,
)
from bot.reply import Reply
from bot.roles import Role
from bot.services import Services
from bot.watch import AlertButton, Kind, Limit, Reading, Unreadable, watch_kind
from commands import Call, command, describe_area
from commands._tables import plural

describe_area(
    "queue", "Postfix's mail queue: what is stuck and why; flush, hold, release, delete; watch for on-call"
)

QUEUES = ("active", "deferred", "hold", "incoming", "maildrop")
TOP = 5
_ANGLE = re.compile(r"<[^<>]*>")
_BRACKETED_IP = re.compile(r"\[[0-9A-Fa-f.:]+\]")
_NUMBER = re.compile(r"\b\d{3,}\b")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else (address.lower() or "(empty sender)")


@functools.lru_cache(maxsize=4096)
def reason_key(reason: str) -> str:
    """Group deferral reasons that differ only in addresses, IPs or counters. Cached: a queue holds
    few distinct reasons, repeated over thousands of messages and every summary and watch poll."""
    reason = _ANGLE.sub("<…>", reason.strip().strip("()"))
    reason = _BRACKETED_IP.sub("", reason)
    return _NUMBER.sub("N", reason)


@dataclass
class QueueFilter:
    sender: str | None = None
    recipient: str | None = None
    domain: str | None = None
    queue: str | None = None
    reason: str | None = None
    text: str | None = None

    @property
    def active(self) -> bool:
        return any(vars(self).values())

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in vars(self).items() if v and k != "text"]
        if self.text:
            parts.append(f'"{self.text}"')
        return " ".join(parts)

    def matches(self, item: QueueItem) -> bool:
        recipients = [addr.lower() for addr, _ in item.recipient_pairs()]
        sender = item.sender.lower()
        if self.sender and self.sender not in sender:
            return False
        if self.recipient and not any(self.recipient in r for r in recipients):
            return False
        if self.domain and not (
            domain_of(sender) == self.domain or any(domain_of(r) == self.domain for r in recipients)
        ):
            return False
        if self.queue and item.queue_name != self.queue:
            return False
        if self.reason and not any(self.reason in (why or "").lower() for _, why in item.recipient_pairs()):
            return False
        return (
            not self.text
            or self.text in sender
            or any(self.text in r for r in recipients)
            or (self.text == item.queue_id.lower())
        )


def parse_filter(call: Call) -> QueueFilter:
    args = call.args
    queue = args.option("queue")
    if queue is not None and queue.lower() not in QUEUES:
        raise args.error(f"`queue={queue}` is not a Postfix queue; expected one of {', '.join(QUEUES)}.")
    wanted = QueueFilter(
        sender=(args.option("from") or args.option("sender") or "").lower() or None,
        recipient=(args.option("to") or args.option("rcpt") or args.option("recipient") or "").lower()
        or None,
        domain=(args.option("domain") or "").lower().lstrip("@") or None,
        queue=queue.lower() if queue else None,
        reason=(args.option("reason") or "").lower() or None,
        text=" ".join(args.rest()).lower() or None,
    )
    args.done()
    return wanted


@dataclass
class QueueSummary:
    items: list[QueueItem]
    now: float

    @property
    def by_queue(self) -> Counter[str]:
        return Counter(item.queue_name for item in self.items)

    @property
    def oldest(self) -> QueueItem | None:
        dated = [i for i in self.items if i.arrival_time]
        return min(dated, key=lambda i: i.arrival_time) if dated else None

    def top_senders(self) -> list[tuple[str, int]]:
        return Counter(domain_of(i.sender) for i in self.items).most_common(TOP)

    def top_recipients(self) -> list[tuple[str, int]]:
        """Messages per recipient domain (a message to two addresses there counts once)."""
        per_message = ({domain_of(addr) for addr, _ in i.recipient_pairs()} for i in self.items)
        return Counter(chain.from_iterable(per_message)).most_common(TOP)

    def top_reasons(self) -> list[tuple[str, int]]:
        """Messages per deferral reason (one message, one count per reason)."""
        per_message = ({reason_key(why) for _, why in i.recipient_pairs() if why} for i in self.items)
        return Counter(chain.from_iterable(per_message)).most_common(TOP)

    def headline(self) -> str:
        total = len(self.items)
        if not total:
            return "Mail queue: *empty*"
        parts = [f"{q} {number(n)}" for q, n in sorted(self.by_queue.items(), key=lambda kv: -kv[1])]
        oldest = self.oldest
        age = f" · oldest {duration(self.now - oldest.arrival_time)}" if oldest else ""
        return f"Mail queue: *{number(total)}* message{'s' if total != 1 else ''} — {' · '.join(parts)}{age}"


def item_line(item: QueueItem, now: float) -> str:
    pairs = item.recipient_pairs()
    first = pairs[0][0] if pairs else "?"
    more = f" (+{len(pairs) - 1})" if len(pairs) > 1 else ""
    reason = next((why for _, why in pairs if why), "")
    why = f"\n      _{esc(reason[:300])}_" if reason else ""
    age = duration(now - item.arrival_time) if item.arrival_time else "?"
    return (
        f"{code(item.queue_id)} {item.queue_name} · {age} · {size(item.message_size)} · "
        f"{esc(item.sender or '<>')} → {esc(first)}{more}{why}"
    )


def _counted(pairs: Iterable[tuple[str, int]]) -> str:
    return "\n".join(f"{number(n)} × {esc(name[:180])}" for name, n in pairs) or "—"


def queue_listing(items: list[QueueItem], now: float, title: str) -> Listing:
    ordered = sorted(items, key=lambda i: i.arrival_time or now)
    return Listing(
        title=title,
        rows=ordered,
        line=lambda item: item_line(item, now),
        csv_columns=(
            "queue_id",
            "queue",
            "arrival_time",
            "age_seconds",
            "size_bytes",
            "sender",
            "recipient",
            "reason",
        ),
        csv_row=lambda item: _csv_cells(item, now),
        per_page=20,
        empty="No message matches.",
        filename="mail-queue.csv",
    )


def _csv_cells(item: QueueItem, now: float) -> tuple[object, ...]:
    pairs = item.recipient_pairs()
    return (
        item.queue_id,
        item.queue_name,
        item.arrival_time,
        int(now - item.arrival_time) if item.arrival_time else "",
        item.message_size,
        item.sender,
        "; ".join(address for address, _ in pairs),
        "; ".join(sorted({why for _, why in pairs if why})),
    )


def postfix_state(client: MailcowClient) -> str | None:
    """The postfix container's state when mailcow can tell us, to tell 'empty' from 'unreadable'."""
    try:
        containers = client.status_containers()
    except MailcowError:
        return None
    if not containers:
        return None
    postfix = containers.get("postfix-mailcow")
    return postfix.state if postfix is not None else None


@command(
    "queue",
    "show",
    usage="queue show [from=…] [to=…] [domain=…] [queue=deferred] [reason=…] [TEXT]",
    summary="queue summary: counts by queue, oldest age, top domains and deferral reasons, every message",
    example="queue show domain=example.org",
    default=True,
)
def show_queue(call: Call) -> Reply:
    wanted = parse_filter(call)
    items = call.mailcow.queue()
    now = time.time()
    age = call.mailcow.age("queue")
    if wanted.active:
        items = [i for i in items if wanted.matches(i)]
    summary = QueueSummary(items, now)
    headline = summary.headline()
    if wanted.active:
        headline += f" matching `{esc(wanted.describe())}`"
    status = "info"
    blocks: list[Block] = []
    if not items and not wanted.active:
        state = postfix_state(call.mailcow)
        if state is not None and state != "running":
            status = "warn"
            headline = (
                f"Mail queue reads *empty*, but postfix-mailcow is `{esc(state)}`: the queue cannot be read."
            )
        elif state == "running":
            blocks.append(context("postfix-mailcow is running, so the queue really is empty."))
    if items:
        by_queue = summary.by_queue
        oldest = summary.oldest
        blocks.extend(
            fields(
                [
                    ("Total", f"{number(len(items))} ({size(sum(i.message_size for i in items))})"),
                    *((q.capitalize(), number(by_queue.get(q, 0))) for q in QUEUES if by_queue.get(q)),
                    (
                        "Oldest",
                        f"{duration(now - oldest.arrival_time)} ({code(oldest.queue_id)})" if oldest else "?",
                    ),
                ]
            )
        )
        blocks.extend(
            fields(
                [
                    ("Top sender domains", _counted(summary.top_senders())),
                    ("Top recipient domains", _counted(summary.top_recipients())),
                ]
            )
        )
        reasons = summary.top_reasons()
        if reasons:
            blocks.extend(
                lines_to_sections(
                    ["*Top deferral reasons*", *(f"{number(n)} × {esc(r[:400])}" for r, n in reasons)]
                )
            )
    slash = call.services.settings.command
    blocks.append(
        context(
            freshness(age),
            f"Narrow it: `{slash} queue show domain=example.org` · act: `{slash} queue flush`, "
            f"`{slash} queue hold ID…`, `{slash} queue delete ID…`",
        )
    )
    listing = queue_listing(items, now, "Messages, oldest first") if items else None
    return Reply(headline=headline, blocks=blocks, listing=listing, status=status)  # type: ignore[arg-type]


# --- actions -------------------------------------------------------------------------------------

TARGET = "queue"
NOT_QUEUED = "not queued"
SHOWN_IDS = 5


@state_reader("queue")
def queue_state(client: MailcowClient, ids: str) -> dict[str, object]:
    """Messages by queue (for whole-queue actions), or which queue each listed message is in now."""
    items = client.queue(fresh=True)
    if not ids:
        counts = Counter(item.queue_name for item in items)
        return {"total": len(items), **{name: counts.get(name, 0) for name in QUEUES}}
    where = {item.queue_id.upper(): item.queue_name for item in items}
    return {qid: where.get(qid, NOT_QUEUED) for qid in ids.split(",")}


def queued_ids(call: Call, tokens: list[str]) -> list[str]:
    """The queue IDs typed, each checked against the queue as it is now."""
    ids = list(dict.fromkeys(queue_id(token) for token in tokens))
    if not ids:
        raise call.args.error("name at least one queue ID (`queue show` lists them).")
    for fresh in (False, True):  # the cached queue usually has them; a new message needs a fresh read
        queued = {item.queue_id.upper() for item in call.mailcow.queue(fresh=fresh)}
        missing = [qid for qid in ids if qid not in queued]
        if not missing:
            return ids
    raise call.args.error(
        f"not in the mail queue (any more): {', '.join(map(code, missing))}. `queue show` lists what is."
    )


def _listed(ids: list[str]) -> str:
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return ", ".join(ids[:SHOWN_IDS]) + more


def _messages(ids: list[str]) -> str:
    return f"{plural(len(ids), 'message')} ({_listed(ids)})"


def _queue_plan(call: Call, summary: str, api_call: ApiCall, ids: Sequence[str] = ()) -> Plan:
    """A one-call plan on the queue messages `ids` (none: the whole queue), read through the queue's
    state reader before the request, before the run and after it."""
    return Plan.of(
        call,
        summary=summary,
        target=TARGET,
        calls=[api_call],
        state=StateRef(reader="queue", key=",".join(ids)),
    )


def _queued_arguments(call: Call) -> list[str]:
    """`ID…`: the queue IDs typed, each checked against the queue as it is now."""
    tokens = call.args.rest()
    call.args.done()
    return queued_ids(call, tokens)


@command(
    "queue",
    "flush",
    usage='queue flush [reason="…"]',
    summary="retry delivery of every deferred message now",
    example='queue flush reason="mx.example.net is back"',
    destructive=True,
)
def flush_queue(call: Call) -> Plan:
    call.args.done()
    summary = "Flush the mail queue: retry delivery of every deferred message now"
    return _queue_plan(call, summary, calls.edit_mailq("flush"))


@command(
    "queue",
    "delete",
    usage='queue delete ID…|all [reason="…"]',
    summary="delete the listed messages from the queue, or every message (`all`); they are gone for good",
    example="queue delete 3F2A1B9C0D",
    destructive=True,
)
def delete_from_queue(call: Call) -> Plan:
    tokens = call.args.rest()
    call.args.done()
    if [token.lower() for token in tokens] == ["all"]:
        summary = "Delete every message in the mail queue; they are gone for good"
        return _queue_plan(call, summary, calls.edit_mailq("super_delete"))
    ids = queued_ids(call, tokens)
    summary = f"Delete {_messages(ids)} from the mail queue; they are gone for good"
    return _queue_plan(call, summary, calls.delete_mailq(ids), ids)


@command(
    "queue",
    "hold",
    usage='queue hold ID… [reason="…"]',
    summary="put messages on hold: Postfix keeps them but stops trying to deliver them",
    example="queue hold 3F2A1B9C0D",
    destructive=True,
)
def hold_messages(call: Call) -> Plan:
    ids = _queued_arguments(call)
    return _queue_plan(call, f"Put {_messages(ids)} on hold", calls.edit_mailq("hold", ids), ids)


@command(
    "queue",
    "release",
    usage='queue release ID… [reason="…"]',
    summary="release held messages: Postfix tries to deliver them again",
    example="queue release 3F2A1B9C0D",
    role=Role.OPERATOR,
)
def release_messages(call: Call) -> Plan:
    ids = _queued_arguments(call)
    return _queue_plan(call, f"Release {_messages(ids)} from hold", calls.edit_mailq("unhold", ids), ids)


# --- the queue watch -----------------------------------------------------------------------------


def measure_queue(services: Services) -> Reading:
    """The numbers the watch compares: total, deferred, and the age (minutes) of the oldest message not
    on hold. Held mail waits on purpose, so putting a message on hold is how to stop it alerting."""
    client = services.mailcow
    items = client.queue(fresh=True)
    if not items:
        state = postfix_state(client)
        if state != "running":
            raise Unreadable(
                "mailcow lists no queued mail, but postfix-mailcow is "
                f"{state or 'not reported by dockerapi'}, so the queue cannot be read"
            )
    now = services.scheduler.clock()
    summary = QueueSummary(items, now)
    by_queue = summary.by_queue
    waiting = [item for item in items if item.queue_name != "hold" and item.arrival_time]
    oldest = min(waiting, key=lambda item: item.arrival_time) if waiting else None
    age = max(0.0, now - oldest.arrival_time) if oldest else 0.0
    facts = [
        ("Total", number(len(items))),
        *((name.capitalize(), number(by_queue[name])) for name in QUEUES if by_queue.get(name)),
        ("Oldest not held", f"{duration(age)} ({code(oldest.queue_id)})" if oldest else "—"),
    ]
    reasons = [f"*Top deferral reason*: {number(n)} × {esc(r[:400])}" for r, n in summary.top_reasons()[:1]]
    return Reading(
        numbers={"total": len(items), "deferred": by_queue.get("deferred", 0), "age": age / 60},
        facts=facts,
        lines=reasons,
    )


QUEUE_WATCH = watch_kind(
    Kind(
        name="queue",
        area="queue",
        title="Mail queue",
        limits=(
            Limit("total", "total", lambda s: s.watch_queue_total),
            Limit("deferred", "deferred", lambda s: s.watch_queue_deferred),
            Limit(
                "age",
                "oldest",
                lambda s: s.watch_queue_age_minutes,
                show=lambda minutes: duration(minutes * 60),
                unit="minutes",
            ),
        ),
        measure=measure_queue,
        buttons=(
            AlertButton("Show deferred", "watch_queue_deferred", "queue show queue=deferred", Role.VIEWER),
            AlertButton(
                "Flush",
                "watch_queue_flush",
                "queue flush",
                Role.OPERATOR,
                confirm=(
                    "Ask to flush the queue?",
                    "This posts an approval request; the flush runs once an approver approves it.",
                    "Ask for approval",
                ),
            ),
        ),
    )
)


@command(
    "queue",
    "watch",
    usage="queue watch [#channel] [total=N] [deferred=N] [age=MIN] | off | status",
    summary="alert a channel when the queue crosses a threshold: one message per incident, updated "
    "until it recovers (held mail does not age)",
    example="queue watch #ops deferred=300 age=120",
)
def watch_queue(call: Call) -> Reply:
    return watch.configure_command(call, QUEUE_WATCH)


def register(app: App, services: Services) -> None:
    """The watches' polling job and alert buttons (once per app; `commands/ban.py` asks too)."""
    watch.register(app, services)
