"""`/mailcow bcc …`: BCC maps, which silently copy a sender's or recipient's mail to another address.

Worth a look when someone asks "who else gets my mail": an active map copies every message.
"""

from __future__ import annotations

from bot.mailcow import BccMap
from bot.render import code
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, active

describe_area(
    "bcc",
    "BCC maps: mail from or to an address or domain, silently copied elsewhere",
    aliases=("bcc-map", "bcc-maps"),
)


def bcc_line(row: BccMap) -> str:
    direction = "mail from" if row.type == "sender" else "mail to"
    copy = f"copy to {code(row.bcc_dest)}"
    return f"`#{row.id}` {direction} {code(row.local_dest)} → {copy} · {active(row.active)}"


MAPS: Table[BccMap] = Table(
    plural="BCC maps",
    line=bcc_line,
    columns=("id", "type", "local_dest", "bcc_dest", "domain", "active", "created", "modified"),
    cells=lambda m: (m.id, m.type, m.local_dest, m.bcc_dest, m.domain, m.active, m.created, m.modified),
    filename="bcc-maps.csv",
)


@command(
    "bcc",
    "list",
    usage="bcc list",
    summary="every BCC map: whose mail (sender or recipient), copied to whom, active or not",
    example="bcc list",
    default=True,
)
def list_maps(call: Call) -> Reply:
    call.args.done()
    maps = call.mailcow.bcc_maps()
    live = sum(1 for m in maps if m.active)
    return MAPS.reply(maps, summary=(f"{live} active" if maps else "",))
