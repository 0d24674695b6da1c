"""`/mailcow tlspolicy …`: per-destination TLS policy overrides for outgoing mail (Postfix's
`smtp_tls_policy_maps`), the first place to look when mail to one domain fails on TLS."""

from __future__ import annotations

from bot.mailcow import TlsPolicyMap
from bot.render import code
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, active

describe_area(
    "tlspolicy",
    "TLS policy maps: the TLS outgoing mail must use towards a domain or address",
    aliases=("tls-policy", "tls-policies", "tlspolicies"),
)


def policy_line(row: TlsPolicyMap) -> str:
    parameters = f" {code(row.parameters)}" if row.parameters else ""
    return f"`#{row.id}` {code(row.dest)} → {code(row.policy)}{parameters} · {active(row.active)}"


MAPS: Table[TlsPolicyMap] = Table(
    plural="TLS policy maps",
    line=policy_line,
    columns=("id", "destination", "policy", "parameters", "active", "created", "modified"),
    cells=lambda m: (m.id, m.dest, m.policy, m.parameters, m.active, m.created, m.modified),
    filename="tls-policy-maps.csv",
)


@command(
    "tlspolicy",
    "list",
    usage="tlspolicy list",
    summary="every TLS policy map: destination, policy (e.g. dane-only), parameters, active or not",
    example="tlspolicy list",
    default=True,
)
def list_maps(call: Call) -> Reply:
    call.args.done()
    return MAPS.reply(call.mailcow.tls_policy_maps())
