"""`/mailcow tlspolicy …`: per-destination TLS policy overrides for outgoing mail (Postfix's
`smtp_tls_policy_maps`), the first place to look when mail to one domain fails on TLS.

`show` gives one map as an approver sees it; adding one runs at once for an operator; deleting one
needs an approval. mailcow does not check the policy name (SERVER-FACTS §4.14), so it is checked
here against the database's list.
"""

from __future__ import annotations

from typing import get_args

from bot.args import address_or_domain
from bot.mailcow import TlsPolicyMap, calls
from bot.mailcow.calls import TlsPolicy
from bot.plans import Plan
from bot.render import code
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, active, parsed
from commands._writes import Entries, built, delete_by_id, keyed, one, show_by_id

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


@command(
    "tlspolicy",
    "show",
    usage="tlspolicy show ID",
    summary="one TLS policy map (its number in `tlspolicy list`): destination, policy, active or not",
    example="tlspolicy show 2",
)
def show_map(call: Call) -> Reply:
    return show_by_id(call, TARGETS)


# --- writes --------------------------------------------------------------------------------------

POLICIES: dict[str, TlsPolicy] = {policy: policy for policy in get_args(TlsPolicy)}


def policy_text(policy: str, parameters: str) -> str:
    return f"{policy} {parameters}".strip()


TARGETS: Entries[TlsPolicyMap] = Entries(
    area="tlspolicy",
    noun="TLS policy map",
    list_usage="tlspolicy list",
    find=keyed(lambda client: client.tls_policy_maps(), lambda m: (m.id, m.dest)),
    facts=one(
        lambda m: {
            "destination": m.dest,
            "policy": policy_text(m.policy, m.parameters),
            "state": active(m.active),
        }
    ),
    title=lambda m: f"#{m.id} ({m.dest} → {policy_text(m.policy, m.parameters)})",
)


@command(
    "tlspolicy",
    "add",
    usage='tlspolicy add DOMAIN|ADDRESS policy=POLICY [parameters="key=value …"]',
    summary="make outgoing mail to a destination use a TLS policy (e.g. dane-only, encrypt, none)",
    example="tlspolicy add example.net policy=encrypt",
    role=Role.OPERATOR,
)
def add_map(call: Call) -> Plan:
    dest = parsed(call, address_or_domain, call.args.take("the destination domain or address"))
    policy = (call.args.option("policy") or "").lower()
    parameters = call.args.option("parameters") or ""
    call.args.done()
    if policy not in POLICIES:
        given = f"`policy={policy}` is not a TLS policy" if policy else "`policy=` is missing"
        raise call.args.error(f"{given}; expected one of {', '.join(f'`{p}`' for p in POLICIES)}.")
    api_call = built(call, lambda: calls.add_tls_policy_map(dest, POLICIES[policy], parameters=parameters))
    summary = f"Add a TLS policy: outgoing mail to {dest} uses {policy_text(policy, parameters)}"
    return TARGETS.plan(call, dest, summary, api_call)


@command(
    "tlspolicy",
    "delete",
    usage='tlspolicy delete ID [reason="…"]',
    summary="delete a TLS policy map (its number in `tlspolicy list`): mailcow's default TLS applies again",
    example="tlspolicy delete 2",
    destructive=True,
)
def delete_map(call: Call) -> Plan:
    return delete_by_id(
        call, TARGETS, calls.delete_tls_policy_maps, ": outgoing mail to it uses mailcow's default TLS again"
    )
