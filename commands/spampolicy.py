"""`/mailcow spampolicy …`: a domain's spam allow- and blocklist (rspamd's per-domain policy).

mailcow's lists include the entries of the domain's mailboxes, and it answers `{}` alike for a
domain without entries and for one it does not know (SERVER-FACTS §4.15), so an empty answer is
checked against the domain before saying "none".
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.args import domain as valid_domain
from bot.mailcow import DomainPolicy
from bot.render import code
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, not_found, parsed

describe_area(
    "spampolicy",
    "a domain's spam allowlist and blocklist (senders always let through or rejected)",
    aliases=("spam-policy", "spam-policies", "spampolicies"),
)


@dataclass(frozen=True)
class PolicyEntry:
    """One allow- or blocklist entry, with the domain asked about so a line can say whose it is."""

    allowed: bool
    policy: DomainPolicy
    domain: str


def entry_line(entry: PolicyEntry) -> str:
    verb = ":white_check_mark: allow" if entry.allowed else ":no_entry_sign: block"
    owner = entry.policy.object
    whose = "whole domain" if owner == entry.domain else f"for {code(owner)}"
    return f"{verb} {code(entry.policy.value)} · {whose} · id {entry.policy.prefid}"


ENTRIES: Table[PolicyEntry] = Table(
    plural="Spam policy",
    line=entry_line,
    columns=("list", "sender", "applies_to", "prefid"),
    cells=lambda e: ("allow" if e.allowed else "block", e.policy.value, e.policy.object, e.policy.prefid),
    filename="spam-policy.csv",
)


@command(
    "spampolicy",
    "list",
    usage="spampolicy list DOMAIN",
    summary="a domain's spam allow- and blocklist, including its mailboxes' entries",
    example="spampolicy list example.org",
    default=True,
)
def list_policy(call: Call) -> Reply:
    domain = parsed(call, valid_domain, call.args.take("the domain"))
    call.args.done()
    allowed = call.mailcow.domain_policies(domain, "wl")
    blocked = call.mailcow.domain_policies(domain, "bl")
    if not allowed and not blocked and call.mailcow.domain(domain) is None:
        return not_found(call, f"domain {code(domain)} on this mailcow", "domain list")
    entries = [
        *(PolicyEntry(True, p, domain) for p in sorted(allowed, key=lambda p: p.value)),
        *(PolicyEntry(False, p, domain) for p in sorted(blocked, key=lambda p: p.value)),
    ]
    return ENTRIES.reply(
        entries,
        scope=f"of {domain}",
        summary=(f"{len(allowed)} allowed, {len(blocked)} blocked" if entries else "",),
    )
