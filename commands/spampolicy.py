"""`/mailcow spampolicy …`: a domain's spam allow- and blocklist (rspamd's per-domain policy).

mailcow's lists include the entries of the domain's mailboxes, and it answers `{}` alike for a
domain without entries and for one it does not know (SERVER-FACTS §4.15), so an empty answer is
checked against the domain before saying "none".

Adding an entry runs at once for an operator; deleting one needs an approval. mailcow can list the
entries only per domain, so `show` and `delete` name the domain with the entry's id: `spampolicy
delete example.org 5`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.args import domain as valid_domain
from bot.mailcow import DomainPolicy, MailcowClient, calls
from bot.mailcow.calls import PolicyList
from bot.plans import Plan
from bot.render import code
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, parsed
from commands._writes import Entries, built, numeric_id, one
from commands.domain import no_domain

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
    entries = policy_entries(call.mailcow, domain)
    if not entries and call.mailcow.domain(domain) is None:
        return no_domain(call, domain)
    allowed = sum(1 for e in entries if e.allowed)
    return ENTRIES.reply(
        entries,
        scope=f"of {domain}",
        summary=(f"{allowed} allowed, {len(entries) - allowed} blocked" if entries else "",),
    )


def policy_entries(client: MailcowClient, domain: str) -> list[PolicyEntry]:
    """The domain's allowlist, then its blocklist, each by sender."""
    allowed = client.domain_policies(domain, "wl")
    blocked = client.domain_policies(domain, "bl")
    return [
        *(PolicyEntry(True, p, domain) for p in sorted(allowed, key=lambda p: p.value)),
        *(PolicyEntry(False, p, domain) for p in sorted(blocked, key=lambda p: p.value)),
    ]


# --- writes --------------------------------------------------------------------------------------

LISTS: dict[str, PolicyList] = {"allow": "wl", "block": "bl"}


def verb(allowed: bool) -> str:
    return "allow" if allowed else "block"


def applies_to(entry: PolicyEntry) -> str:
    return "the whole domain" if entry.policy.object == entry.domain else entry.policy.object


def entry_key(domain: str, selector: str) -> str:
    """`example.org 5` (an id) or `example.org allow:*@x.example` (what an add creates)."""
    return f"{domain} {selector}"


def selectors(entry: PolicyEntry) -> set[str]:
    """What an entry is found by: its id and, for the domain's own entries, what an add names."""
    found = {str(entry.policy.prefid)}
    if entry.policy.object == entry.domain:
        found.add(f"{verb(entry.allowed)}:{entry.policy.value}".lower())
    return found


def find_entries(client: MailcowClient, key: str) -> list[PolicyEntry]:
    domain, _, selector = key.partition(" ")
    return [e for e in policy_entries(client, domain) if selector.lower() in selectors(e)]


TARGETS: Entries[PolicyEntry] = Entries(
    area="spampolicy",
    noun="spam policy entry",
    list_usage="spampolicy list DOMAIN",
    find=find_entries,
    facts=one(lambda e: {"list": verb(e.allowed), "sender": e.policy.value, "applies to": applies_to(e)}),
    title=lambda e: f"{e.policy.prefid} ({verb(e.allowed)} {e.policy.value} for {applies_to(e)})",
)


def _known(call: Call, domain: str) -> str:
    if call.mailcow.domain(domain) is None:
        raise call.args.error(f"`{domain}` is not a domain on this mailcow.")
    return domain


def _entry_id(call: Call) -> tuple[str, str, str]:
    """`DOMAIN ID` of `show` and `delete`, both checked before mailcow is asked whether the domain
    exists: the entry's key, its id, and how a sentence names it."""
    domain = parsed(call, valid_domain, call.args.take("the domain"))
    prefid = numeric_id(call, TARGETS, call.args.take("the entry's ID"))
    call.args.done()
    _known(call, domain)
    return entry_key(domain, prefid), prefid, f"{code(prefid)} in {code(domain)}'s lists"


@command(
    "spampolicy",
    "show",
    usage="spampolicy show DOMAIN ID",
    summary="one allow- or blocklist entry (its id in `spampolicy list DOMAIN`): sender, list, who it covers",
    example="spampolicy show example.org 5",
)
def show_entry(call: Call) -> Reply:
    key, _, named = _entry_id(call)
    return TARGETS.show(call, key, named)


@command(
    "spampolicy",
    "add",
    usage="spampolicy add DOMAIN allow|block SENDER",
    summary="always let through (allow) or always reject (block) mail from a sender pattern to a domain",
    example="spampolicy add example.org block *@spam.example",
    role=Role.OPERATOR,
)
def add_entry(call: Call) -> Plan:
    domain = _known(call, parsed(call, valid_domain, call.args.take("the domain")))
    choice = call.args.take("`allow` or `block`").lower()
    sender = call.args.take("the sender pattern (like `*@example.net`)")
    call.args.done()
    if choice not in LISTS:
        raise call.args.error(f"`{choice}` is neither `allow` nor `block`.")
    api_call = built(call, lambda: calls.add_domain_policy(domain, LISTS[choice], sender))
    what = "always let through, whatever its spam score" if choice == "allow" else "always rejected"
    summary = f"{choice.capitalize()} {sender} for {domain}: its mail to the domain is {what}"
    return TARGETS.plan(call, entry_key(domain, f"{choice}:{sender}"), summary, api_call)


@command(
    "spampolicy",
    "delete",
    usage='spampolicy delete DOMAIN ID [reason="…"]',
    summary="delete an allow- or blocklist entry (its id in `spampolicy list DOMAIN`)",
    example="spampolicy delete example.org 5",
    destructive=True,
)
def delete_entry(call: Call) -> Plan:
    key, prefid, named = _entry_id(call)
    consequence = ": mail from it is scored like any other again"
    return TARGETS.delete(call, key, lambda _: calls.delete_domain_policies(prefid), consequence, named)
