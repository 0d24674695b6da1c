"""`/mailcow recipientmap …`: recipient maps, which rewrite a recipient address or domain before
delivery (mail to the old address goes to the new one)."""

from __future__ import annotations

from bot.mailcow import RecipientMap
from bot.render import code
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, active

describe_area(
    "recipientmap",
    "recipient maps: mail to one address or domain rewritten to another",
    aliases=("recipient-map", "recipient-maps", "recipientmaps"),
)


def map_line(row: RecipientMap) -> str:
    return f"`#{row.id}` {code(row.recipient_map_old)} → {code(row.recipient_map_new)} · {active(row.active)}"


MAPS: Table[RecipientMap] = Table(
    plural="Recipient maps",
    line=map_line,
    columns=("id", "old", "new", "active", "created", "modified"),
    cells=lambda m: (m.id, m.recipient_map_old, m.recipient_map_new, m.active, m.created, m.modified),
    filename="recipient-maps.csv",
)


@command(
    "recipientmap",
    "list",
    usage="recipientmap list",
    summary="every recipient map: old address or domain → new, active or not",
    example="recipientmap list",
    default=True,
)
def list_maps(call: Call) -> Reply:
    call.args.done()
    return MAPS.reply(call.mailcow.recipient_maps())
