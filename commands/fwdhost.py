"""`/mailcow fwdhost …`: hosts whose forwarded mail mailcow accepts without sender checks.

mailcow stores a hostname as the IPs it resolved to, one entry each with the name as `source`
(SERVER-FACTS §4.11), so the list shows both; deletes will need the IP form.
"""

from __future__ import annotations

from bot.mailcow import ForwardingHost
from bot.render import code
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table

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
