"""`/mailcow fwdhost …`: hosts whose forwarded mail mailcow accepts without sender checks.

mailcow stores a hostname as the IPs it resolved to, one entry each with the name as `source`
(SERVER-FACTS §4.11), so the list shows both. `fwdhost add` reads back which IPs a name became;
`fwdhost show` and `fwdhost delete` take a name (every IP it became) or one IP/network, and the
delete sends mailcow the IP keys, the only ones it knows.
"""

from __future__ import annotations

from bot.args import UsageError, flag, network
from bot.args import domain as valid_domain
from bot.mailcow import ForwardingHost, calls
from bot.plans import Plan
from bot.render import code
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, parsed
from commands._writes import Entries, built, each, keyed

describe_area(
    "fwdhost",
    "forwarding hosts: servers allowed to forward mail in, and whether their spam is kept",
    aliases=("forwarding-host", "forwarding-hosts", "fwdhosts"),
)


def spam_text(host: ForwardingHost) -> str:
    return "spam kept (not filtered)" if host.keep_spam else "spam filtered"


def host_line(host: ForwardingHost) -> str:
    origin = f" from {code(host.source)}" if host.source and host.source != host.host else ""
    return f"{code(host.host)}{origin} · {spam_text(host)}"


HOSTS: Table[ForwardingHost] = Table(
    plural="Forwarding hosts",
    line=host_line,
    columns=("host", "source", "keep_spam"),
    cells=lambda h: (h.host, h.source, int(h.keep_spam)),
    filename="forwarding-hosts.csv",
)


@command(
    "fwdhost",
    "list",
    usage="fwdhost list",
    summary="every forwarding host (IP or network), the name it came from, and spam handling",
    example="fwdhost list",
    default=True,
)
def list_hosts(call: Call) -> Reply:
    call.args.done()
    return HOSTS.reply(call.mailcow.fwdhosts())


@command(
    "fwdhost",
    "show",
    usage="fwdhost show HOST|IP|NETWORK",
    summary="one forwarding host: a name shows every IP it became, each with its spam handling",
    example="fwdhost show mx.partner.example",
)
def show_host(call: Call) -> Reply:
    key = _host_argument(call)
    call.args.done()
    return TARGETS.show(call, key)


# --- writes --------------------------------------------------------------------------------------


def host_or_network(value: str) -> str:
    """An IP, a network or a host name, as mailcow keys it."""
    try:
        network(value)
        return value.strip().lower()  # as typed: mailcow keys it the way it was added
    except UsageError:
        pass
    try:
        return valid_domain(value, "host name")
    except UsageError:
        raise UsageError(
            f"`{value}` is neither a host name (`mx.partner.example`) nor an IP address or network "
            "(`192.0.2.25`, `192.0.2.0/24`)."
        ) from None


def _host_argument(call: Call) -> str:
    return parsed(call, host_or_network, call.args.take("the host name, IP address or network"))


def origin_text(host: ForwardingHost) -> str:
    origin = f"from {host.source}, " if host.source and host.source != host.host else ""
    return f"{origin}{spam_text(host)}"


TARGETS: Entries[ForwardingHost] = Entries(
    area="fwdhost",
    noun="forwarding host",
    list_usage="fwdhost list",
    find=keyed(lambda client: client.fwdhosts(), lambda h: (h.host, h.source)),
    facts=each(lambda h: h.host, origin_text),
    title=lambda h: h.source or h.host,
)


@command(
    "fwdhost",
    "add",
    usage="fwdhost add HOST|IP|NETWORK [spam_filter=no|yes]",
    summary="accept mail a host forwards without sender checks; a name becomes its IPs (read back)",
    example="fwdhost add mx.partner.example spam_filter=yes",
    role=Role.OPERATOR,
)
def add_host(call: Call) -> Plan:
    host = _host_argument(call)
    filter_spam = parsed(call, lambda v: flag(v, "`spam_filter`"), call.args.option("spam_filter") or "no")
    call.args.done()
    api_call = built(call, lambda: calls.add_fwdhost(host, filter_spam=filter_spam))
    spam = "its spam is filtered" if filter_spam else "its spam is kept (not filtered)"
    summary = f"Accept mail forwarded by {host} without sender checks; {spam}"
    return TARGETS.plan(call, host, summary, api_call)


@command(
    "fwdhost",
    "delete",
    usage='fwdhost delete HOST|IP|NETWORK [reason="…"]',
    summary="stop trusting a forwarding host: a name removes every IP it became, an IP just that one",
    example="fwdhost delete mx.partner.example",
    destructive=True,
)
def delete_host(call: Call) -> Plan:
    key = _host_argument(call)
    call.args.done()
    addresses = [h.host for h in TARGETS.existing(call, key)]
    listed = ", ".join(addresses)
    named = key if addresses == [key] else f"{key} ({listed})"
    summary = f"Delete forwarding host {named}: mail it forwards gets the usual sender checks again"
    return TARGETS.plan(call, key, summary, built(call, lambda: calls.delete_fwdhosts(addresses)))
