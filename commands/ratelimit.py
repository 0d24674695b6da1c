"""`/mailcow ratelimit …`: outgoing rate limits set on domains and mailboxes.

A mailbox without a limit of its own is held to its domain's, so both kinds are listed together.
`ratelimit set` runs at once for an operator; a value of 0 removes the limit (SERVER-FACTS §4.17).
"""

from __future__ import annotations

import re

from bot.args import address as valid_address
from bot.args import domain as valid_domain
from bot.mailcow import MailcowClient, RateLimit, calls
from bot.mailcow.calls import RateFrame
from bot.mailcow.models import RateLimitValue
from bot.plans import Plan
from bot.render import code
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, parsed, plural, rate_text
from commands._writes import Entries, built

describe_area(
    "ratelimit",
    "outgoing rate limits of domains and mailboxes (e.g. 10 messages per hour)",
    aliases=("rate-limit", "rate-limits", "ratelimits"),
)


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
    summary="every domain and mailbox with an outgoing rate limit, e.g. 10 messages per hour",
    example="ratelimit list",
    default=True,
)
def list_limits(call: Call) -> Reply:
    call.args.done()
    domains = sorted(call.mailcow.rl_domains(), key=lambda r: r.object)
    mailboxes = sorted(call.mailcow.rl_mailboxes(), key=lambda r: r.object)
    counts = f"{plural(len(domains), 'domain')}, {plural(len(mailboxes), 'mailbox', 'mailboxes')}"
    return LIMITS.reply(
        [*domains, *mailboxes],
        summary=(counts if domains or mailboxes else "",),
        notes=("Mailboxes without a limit of their own are held to their domain's.",),
    )


# --- writes --------------------------------------------------------------------------------------

FRAME_WORDS: dict[str, RateFrame] = {
    **{word: "s" for word in ("s", "sec", "second")},
    **{word: "m" for word in ("m", "min", "minute")},
    **{word: "h" for word in ("h", "hr", "hour")},
    **{word: "d" for word in ("d", "day")},
}
_RATE = re.compile(r"^(?P<value>\d+)(?:/(?P<frame>[a-z]+?)s?)?$")


def find_limits(client: MailcowClient, key: str) -> list[RateLimit]:
    kind, _, name = key.partition(":")
    limits = client.rl_mailboxes() if kind == "mailbox" else client.rl_domains()
    return [limit for limit in limits if limit.object.lower() == name]


TARGETS: Entries[RateLimit] = Entries(
    area="ratelimit",
    noun="rate limit",
    list_usage="ratelimit list",
    find=find_limits,
    facts=lambda limits: {"limit": rate_text(limits[0] if limits else None)},
    title=lambda limit: f"{limit.object} ({rate_text(limit)})",
)


def _rate(call: Call, raw: str) -> tuple[int, RateFrame | None]:
    match = _RATE.match(raw.strip().lower().replace(" ", ""))
    frame = FRAME_WORDS.get(match["frame"]) if match and match["frame"] else None
    if match is None or (match["frame"] and frame is None) or (frame is None and match["value"] != "0"):
        raise call.args.error(
            f"`{raw}` is not a rate; expected messages per time frame like `10/h` "
            "(frames `s`, `m`, `h`, `d`), or `0` to remove the limit."
        )
    return int(match["value"]), frame


@command(
    "ratelimit",
    "set",
    usage="ratelimit set mailbox|domain ADDRESS|DOMAIN N/FRAME",
    summary="limit how many messages a mailbox or domain may send per s/m/h/d; `0` removes the limit",
    example="ratelimit set mailbox alice@example.org 100/h",
    role=Role.OPERATOR,
)
def set_limit(call: Call) -> Plan:
    kind = call.args.take("`mailbox` or `domain`").lower()
    name = call.args.take("the mailbox or domain")
    value, frame = _rate(call, call.args.take("the rate, like `10/h`"))
    call.args.done()
    if kind == "mailbox":
        target = parsed(call, lambda v: valid_address(v, "mailbox"), name)
        known = call.mailcow.mailbox(target) is not None
    elif kind == "domain":
        target = parsed(call, valid_domain, name)
        known = call.mailcow.domain(target) is not None
    else:
        raise call.args.error(f"`{kind}` is neither `mailbox` nor `domain`.")
    if not known:
        raise call.args.error(f"there is no {kind} {code(target)} on this mailcow.")
    key = f"{kind}:{target}"
    current = TARGETS.find(call.mailcow, key)
    # mailcow wants a valid frame even when removing (SERVER-FACTS §4.17): keep the current one.
    frame = frame or (FRAME_WORDS.get(current[0].frame) if current else None) or "h"
    build = calls.edit_rl_mbox if kind == "mailbox" else calls.edit_rl_domain
    api_call = built(call, lambda: build(target, value, frame))
    if value:
        summary = f"Limit {kind} {target} to {rate_text(RateLimitValue(value=value, frame=frame))}"
    elif kind == "mailbox":
        summary = f"Remove the rate limit of mailbox {target}: its domain's limit applies again"
    else:
        summary = f"Remove the rate limit of domain {target}"
    return TARGETS.plan(call, key, summary, api_call)
