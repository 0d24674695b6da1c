"""`/mailcow ratelimit …`: outgoing rate limits set on domains and mailboxes.

A mailbox without a limit of its own is held to its domain's, so both kinds are listed together.
"""

from __future__ import annotations

from bot.mailcow import RateLimit
from bot.render import code, number
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table

describe_area(
    "ratelimit",
    "outgoing rate limits of domains and mailboxes (e.g. 10 / hour)",
    aliases=("rate-limit", "rate-limits", "ratelimits"),
)

FRAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def rate_text(limit: RateLimit) -> str:
    return f"{number(limit.value)} / {FRAMES.get(limit.frame, limit.frame or '?')}"


def kind(limit: RateLimit) -> str:
    return "mailbox" if limit.mailbox else "domain"


def limit_line(limit: RateLimit) -> str:
    return f"{code(limit.object)} ({kind(limit)}) · {rate_text(limit)}"


LIMITS: Table[RateLimit] = Table(
    plural="Rate limits",
    line=limit_line,
    columns=("kind", "object", "value", "frame"),
    cells=lambda r: (kind(r), r.object, r.value, r.frame),
    filename="rate-limits.csv",
)


@command(
    "ratelimit",
    "list",
    usage="ratelimit list",
    summary="every domain and mailbox with an outgoing rate limit, e.g. 10 / hour",
    example="ratelimit list",
    default=True,
)
def list_limits(call: Call) -> Reply:
    call.args.done()
    domains = sorted(call.mailcow.rl_domains(), key=lambda r: r.object)
    mailboxes = sorted(call.mailcow.rl_mailboxes(), key=lambda r: r.object)
    counts = f"{len(domains)} domain{'s' if len(domains) != 1 else ''}, {len(mailboxes)} mailbox" + (
        "es" if len(mailboxes) != 1 else ""
    )
    return LIMITS.reply(
        [*domains, *mailboxes],
        summary=(counts if domains or mailboxes else "",),
        notes=("Mailboxes without a limit of their own are held to their domain's.",),
    )
