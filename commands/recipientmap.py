"""`/mailcow recipientmap …`: recipient maps, which rewrite a recipient address or domain before
delivery (mail to the old address goes to the new one).

`show` gives one map as an approver sees it; adding one runs at once for an operator; deleting one
needs an approval. mailcow stores a domain as `@domain` (SERVER-FACTS §4.13), so a map is found by
its old side either way.
"""

from __future__ import annotations

from bot.args import address_or_domain
from bot.mailcow import RecipientMap, calls
from bot.plans import Plan
from bot.render import code
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, active, parsed
from commands._writes import Entries, built, delete_by_id, keyed, one, show_by_id

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


@command(
    "recipientmap",
    "show",
    usage="recipientmap show ID",
    summary="one recipient map (its number in `recipientmap list`): what is rewritten to what, active or not",
    example="recipientmap show 3",
)
def show_map(call: Call) -> Reply:
    return show_by_id(call, TARGETS)


# --- writes --------------------------------------------------------------------------------------


def _side(call: Call, what: str) -> str:
    return parsed(call, address_or_domain, call.args.take(what).lstrip("@"))


TARGETS: Entries[RecipientMap] = Entries(
    area="recipientmap",
    noun="recipient map",
    list_usage="recipientmap list",
    find=keyed(lambda client: client.recipient_maps(), lambda m: (m.id, m.recipient_map_old.lstrip("@"))),
    facts=one(
        lambda m: {"rewrites": m.recipient_map_old, "to": m.recipient_map_new, "state": active(m.active)}
    ),
    title=lambda m: f"#{m.id} ({m.recipient_map_old} → {m.recipient_map_new})",
)


@command(
    "recipientmap",
    "add",
    usage="recipientmap add OLD NEW",
    summary="deliver mail for one address or domain to another instead",
    example="recipientmap add old@example.org alice@example.org",
    role=Role.OPERATOR,
)
def add_map(call: Call) -> Plan:
    old = _side(call, "the old address or domain")
    new = _side(call, "the new address or domain")
    call.args.done()
    api_call = built(call, lambda: calls.add_recipient_map(old, new))
    return TARGETS.plan(call, old, f"Add a recipient map: mail to {old} goes to {new} instead", api_call)


@command(
    "recipientmap",
    "delete",
    usage='recipientmap delete ID [reason="…"]',
    summary="delete a recipient map (its number in `recipientmap list`): mail to it is no longer rewritten",
    example="recipientmap delete 3",
    destructive=True,
)
def delete_map(call: Call) -> Plan:
    return delete_by_id(call, TARGETS, calls.delete_recipient_maps, ": mail to it is no longer rewritten")
