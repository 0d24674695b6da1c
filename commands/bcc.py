"""`/mailcow bcc …`: BCC maps, which silently copy a sender's or recipient's mail to another address.

Worth a look when someone asks "who else gets my mail": an active map copies every message. `show`
gives one map as an approver sees it; adding one runs at once for an operator; deleting one needs an
approval. mailcow stores a domain as `@domain` (SERVER-FACTS §4.12), so a map is found by its type
and address either way.
"""

from __future__ import annotations

from bot.args import address as valid_address
from bot.args import address_or_domain
from bot.mailcow import BccMap, calls
from bot.mailcow.calls import BccType
from bot.plans import Plan
from bot.render import code
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, active, parsed
from commands._writes import Entries, built, delete_by_id, keyed, one, show_by_id

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


@command(
    "bcc",
    "show",
    usage="bcc show ID",
    summary="one BCC map (its number in `bcc list`): whose mail is copied, to whom, active or not",
    example="bcc show 7",
)
def show_map(call: Call) -> Reply:
    return show_by_id(call, TARGETS)


# --- writes --------------------------------------------------------------------------------------

KINDS: dict[str, BccType] = {"rcpt": "rcpt", "sender": "sender"}


def copied(kind: str, local_dest: str) -> str:
    return f"mail {'from' if kind == 'sender' else 'to'} {local_dest}"


def map_key(kind: str, local_dest: str) -> str:
    """A map's natural key, the same whether mailcow stored the domain as `@domain` or not."""
    return f"{kind}:{local_dest.lstrip('@')}"


TARGETS: Entries[BccMap] = Entries(
    area="bcc",
    noun="BCC map",
    list_usage="bcc list",
    find=keyed(lambda client: client.bcc_maps(), lambda m: (m.id, map_key(m.type, m.local_dest))),
    facts=one(
        lambda m: {"copies": copied(m.type, m.local_dest), "to": m.bcc_dest, "state": active(m.active)}
    ),
    title=lambda m: f"#{m.id} ({copied(m.type, m.local_dest)} copied to {m.bcc_dest})",
)


@command(
    "bcc",
    "add",
    usage="bcc add ADDRESS|DOMAIN to=ADDRESS [type=rcpt|sender]",
    summary="silently copy all mail to (rcpt, the default) or from (sender) an address or domain",
    example="bcc add example.org to=archive@example.net",
    role=Role.OPERATOR,
)
def add_map(call: Call) -> Plan:
    raw = call.args.take("the address or domain whose mail is copied")
    local = parsed(call, address_or_domain, raw.lstrip("@"))
    dest = call.args.option("to")
    kind = (call.args.option("type") or "rcpt").lower()
    call.args.done()
    if not dest:
        raise call.args.error("`to=` is missing: the address that gets the copies.")
    bcc_dest = parsed(call, lambda value: valid_address(value, "BCC destination"), dest)
    if kind not in KINDS:
        raise call.args.error(
            f"`type={kind}` is not a BCC map type; expected `rcpt` (mail to it) or `sender` (mail from it)."
        )
    api_call = built(call, lambda: calls.add_bcc(local, bcc_dest, KINDS[kind]))
    summary = f"Add a BCC map: every {copied(kind, local)} is silently copied to {bcc_dest}"
    return TARGETS.plan(call, map_key(kind, local), summary, api_call)


@command(
    "bcc",
    "delete",
    usage='bcc delete ID [reason="…"]',
    summary="delete a BCC map (its number in `bcc list`): its copies stop",
    example="bcc delete 7",
    destructive=True,
)
def delete_map(call: Call) -> Plan:
    return delete_by_id(call, TARGETS, calls.delete_bcc_maps, ": its copies stop")
