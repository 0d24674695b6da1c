"""`/mailcow ban …`: why an address cannot reach mailcow, and who is banned right now.

`ban IP` answers the help-desk question "why can't this user log in?" in one line (banned for how
long, permanently, allow- or denylisted, or nothing) and puts the evidence in the thread: the ban
network, the list entries that contain the address, the netfilter lines about it and the recent
authentication failures from the Postfix, Dovecot and SOGo logs. `ban list` is the on-call view of
every ban, grouped by /24 (IPv4) and /64 (IPv6) so a spike from one network stands out.

mailcow keys bans by *network* (`203.0.113.7/32`, or wider with `netban_ipv4`/`netban_ipv6`), and
its lists hold IPs, CIDRs and (allowlist only) hostnames (SERVER-FACTS §4.5), so everything is
matched by containment, never by comparing strings.

The writes: `unban IP` (needs an approval) sends the banned networks exactly as `active_bans` lists
them, since netfilter silently drops a bare IP; `ban add NET` (needs an approval) puts it on the
denylist, a permanent ban; `ban allow NET` puts it on the allowlist and lifts the active bans that
overlap it, since the allowlist call only queues an unban for the very string it was given. None ever
sends an empty list, which would rewrite the whole fail2ban configuration. netfilter applies all of
them asynchronously (unbans within about 10 s, the lists within about a minute), so each says so, and
the read-back shows what mailcow reports right after the call. The `ban IP` answer carries Unban,
Allow and Block buttons that start the same plans.

`ban watch` alerts a channel when the number of active bans crosses a threshold (`bot/watch.py`).
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from slack_bolt import Ack, App
from slack_sdk.models.blocks import Block, ButtonElement

from bot import watch
from bot.args import ip, network
from bot.errors import ChatopsError
from bot.guard import interaction
from bot.mailcow import ActiveBan, ApiCall, Fail2ban, LogEntry, MailcowClient, MailcowError, PermBan, calls
from bot.plans import Plan, state_reader
from bot.render import (
    actions,
    ago,
    button,
    code,
    context,
    duration,
    esc,
    fields,
    freshness,
    lines_to_sections,
    number,
    preformatted,
)
from bot.reply import Reply, Status
from bot.roles import Role
from bot.services import Services
from bot.watch import AlertButton, Kind, Limit, Reading, Unreadable, watch_kind
from commands import Call, command, describe_area
from commands._tables import Table, parsed, plural, slash
from commands._writes import built, plan_on

describe_area(
    "ban",
    "fail2ban: is an address banned or listed and why (log evidence), every active ban; unban, allow, "
    "block, and a watch for ban spikes",
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOG_LINES = 1000
"""How many of the newest lines of each log `ban IP` searches: enough for the last hour on a busy host."""
SHOWN_NETFILTER = 10
SHOWN_AUTH = 5
AUTH_LOGS = ("postfix", "dovecot", "sogo")
LOGS = ("netfilter", *AUTH_LOGS)
LOG_NAMES = {"postfix": "Postfix", "dovecot": "Dovecot", "sogo": "SOGo", "netfilter": "netfilter"}
GROUP_PREFIX = {4: 24, 6: 64}
TOP_NETWORKS = 10

_IP_LIKE = re.compile(r"[0-9A-Fa-f.:\[\]/]+")
_AUTH_FAILURE = re.compile(
    r"auth(?:entication)?[ _-]?fail|password mismatch|unknown user|invalid password|might not have worked",
    re.IGNORECASE,
)


def looks_like_ip(word: str) -> bool:
    """Send `ban 203.0.113.7`, and typos like `ban 999.1.1.1`, to `ban show`, which explains the form."""
    return bool(_IP_LIKE.fullmatch(word)) and ("." in word or ":" in word)


def as_network(text: str) -> Network | None:
    """A list entry or ban key as a network; None for hostnames (allowlist) or garbage."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def contains(entry: str, address: Address) -> bool:
    network = as_network(entry)
    return network is not None and address in network


def group_of(network: Network) -> Network:
    """The /24 (IPv4) or /64 (IPv6) a ban falls in, or the ban itself when it is wider."""
    prefix = GROUP_PREFIX[network.version]
    return network.supernet(new_prefix=prefix) if network.prefixlen > prefix else network


def ban_network(address: Address, f2b: Fail2ban) -> Network:
    """The network fail2ban would ban for this address (`netban_ipv4`/`netban_ipv6`)."""
    prefix = f2b.netban_ipv4 if address.version == 4 else f2b.netban_ipv6
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def settings_note(f2b: Fail2ban) -> str:
    """fail2ban's thresholds in words, so 'when would it be banned' needs no trip to the UI."""
    if not f2b.max_attempts:
        return "fail2ban settings unknown: netfilter has published none (is netfilter-mailcow running?)."
    note = (
        f"fail2ban bans after {f2b.max_attempts} failures within {duration(f2b.retry_window)} "
        f"for {duration(f2b.ban_time)}"
    )
    if f2b.ban_time_increment:
        note += f", doubling on each repeat up to {duration(f2b.max_ban_time)}"
    return f"{note}; it bans IPv4 /{f2b.netban_ipv4} and IPv6 /{f2b.netban_ipv6} networks."


def time_left(ban: ActiveBan) -> str:
    seconds = ban.seconds_left()
    if seconds is None:
        return f"time left unknown (`{esc(ban.banned_until)}`)"
    return f"{duration(seconds)} left" if seconds > 0 else "expiring now"


# --- ban IP -------------------------------------------------------------------------------------------


class Mentions:
    """Finds log lines that name an address, or one of the networks that contain it.

    The boundaries keep 203.0.113.7 from matching 203.0.113.70 while still finding it in
    `rip=::ffff:203.0.113.7` (how Dovecot logs an IPv4 client on a dual-stack socket).
    """

    _EDGES: ClassVar[dict[int, tuple[str, str]]] = {
        4: (r"(?<![\d.])", r"(?!\d|\.\d)"),
        6: (r"(?<![0-9A-Fa-f:])", r"(?![0-9A-Fa-f:])"),
    }

    def __init__(self, address: Address, networks: Iterable[str]) -> None:
        forms = {str(address), address.exploded}
        terms = sorted({*forms, *networks}, key=len, reverse=True)
        before, after = self._EDGES[address.version]
        alternatives = "|".join(re.escape(t) for t in terms)
        self._pattern = re.compile(f"{before}(?:{alternatives}){after}", re.IGNORECASE)

    def __call__(self, entry: LogEntry) -> bool:
        return bool(self._pattern.search(entry.message))


@dataclass
class LogHits:
    """What one log says about the address: matching lines newest first, or why it could not be read."""

    name: str
    lines: list[LogEntry] = field(default_factory=list)
    problem: str = ""

    @property
    def failures(self) -> list[LogEntry]:
        return [e for e in self.lines if _AUTH_FAILURE.search(e.message)]


@dataclass
class BanReport:
    """Everything fail2ban knows about one address; unban/allow verbs act on its `network` strings."""

    address: Address
    active: list[ActiveBan]
    permanent: list[PermBan]
    allowed_by: list[str]
    denied_by: list[str]
    hostnames: list[str]

    @classmethod
    def build(cls, address: Address, f2b: Fail2ban) -> BanReport:
        active = [b for b in f2b.active_bans if contains(b.network, address) or b.ip == str(address)]
        active.sort(key=lambda b: b.seconds_left() or 0, reverse=True)
        return cls(
            address=address,
            active=active,
            permanent=[b for b in f2b.perm_bans if contains(b.network, address) or b.ip == str(address)],
            allowed_by=[e for e in f2b.whitelist if contains(e, address)],
            denied_by=[e for e in f2b.blacklist if contains(e, address)],
            hostnames=[e for e in f2b.whitelist if as_network(e) is None],
        )

    @property
    def networks(self) -> list[str]:
        """Ban keys and list entries that cover the address, as mailcow spells them."""
        found = [
            *(b.network for b in self.active),
            *(b.network for b in self.permanent),
            *self.allowed_by,
            *self.denied_by,
        ]
        return list(dict.fromkeys(found))

    def headline(self, failures: int) -> tuple[str, Status]:
        who = esc(str(self.address))
        if self.active:
            ban = self.active[0]
            seconds = ban.seconds_left()
            until = f"for another {duration(seconds)}" if seconds and seconds > 0 else f"({time_left(ban)})"
            text = f"{who} is *banned* {until} (network {code(ban.network)})"
            if ban.queued_for_unban:
                text += " · unban queued"
            if self.permanent:
                text += " · also permanently banned"
            return text, "warn"
        if self.permanent:
            return f"{who} is *permanently banned* (network {code(self.permanent[0].network)})", "warn"
        tried = f" · {plural(failures, 'recent auth failure')}" if failures else ""
        if self.denied_by:
            return (
                f"{who} is not banned yet but *denylisted* by {code(self.denied_by[0])}: "
                f"netfilter applies the denylist within a minute{tried}",
                "warn",
            )
        if self.allowed_by:
            return f"{who} is not banned; allowlisted by {code(self.allowed_by[0])}{tried}", "info"
        return f"{who} is not banned and not listed{tried}", "info"


def _listed(entries: Sequence[str]) -> str:
    return ", ".join(code(e) for e in entries) if entries else "not listed"


def report_fields(report: BanReport, f2b: Fail2ban, hits: Sequence[LogHits]) -> list[Block]:
    active = "\n".join(
        f"{code(b.network)} · {time_left(b)}{' · unban queued' if b.queued_for_unban else ''}"
        for b in report.active
    )
    counts = " · ".join(f"{LOG_NAMES[h.name]} {'?' if h.problem else number(len(h.failures))}" for h in hits)
    return fields(
        [
            ("Active ban", active or "none"),
            ("Permanent ban", ", ".join(code(b.network) for b in report.permanent) or "none"),
            ("Allowlist", _listed(report.allowed_by)),
            ("Denylist", _listed(report.denied_by)),
            ("A ban would cover", code(ban_network(report.address, f2b))),
            ("Auth failures", f"{counts}\n_in the newest {number(LOG_LINES)} lines of each log_"),
        ]
    )


def log_block(title: str, entries: Sequence[tuple[str, LogEntry]], shown: int) -> list[Block]:
    """The newest `shown` (label, entry) pairs as monospace lines; `preformatted` escapes log text,
    which may hold `<!channel>`."""
    if not entries:
        return []
    newest = sorted(entries, key=lambda pair: pair[1].time, reverse=True)[:shown]
    lines = [f"{ago(e.time):>12}  {label:<8} {e.message}" for label, e in newest]
    more = f" (newest {shown} of {number(len(entries))})" if len(entries) > shown else ""
    return [*lines_to_sections([f"*{title}*{more}"]), *preformatted("\n".join(lines))]


def read_all(call: Call) -> tuple[Fail2ban, dict[str, list[LogEntry] | MailcowError]]:
    """fail2ban's state and the logs, fetched side by side: five reads one after the other would make
    a 3 a.m. answer slow. fail2ban's failure fails the command; a log's only leaves a note."""
    with ThreadPoolExecutor(max_workers=1 + len(LOGS), thread_name_prefix="ban-show") as pool:
        state = pool.submit(contextvars.copy_context().run, call.mailcow.fail2ban)
        logs = {
            name: pool.submit(contextvars.copy_context().run, call.mailcow.logs, name, LOG_LINES)
            for name in LOGS
        }
    return state.result(), {name: _outcome(future) for name, future in logs.items()}


def _outcome(future: Future[list[LogEntry]]) -> list[LogEntry] | MailcowError:
    try:
        return future.result()
    except MailcowError as error:
        return error


def search(name: str, outcome: list[LogEntry] | MailcowError, mentions: Mentions) -> LogHits:
    if isinstance(outcome, MailcowError):
        return LogHits(name, problem=outcome.user_message)
    return LogHits(name, [e for e in outcome if mentions(e)])


@command(
    "ban",
    "show",
    usage="ban show IP",
    summary="everything known about an address: ban and time left, allow/deny lists, log evidence",
    example="ban 203.0.113.7",
    accepts=looks_like_ip,
)
def show_ban(call: Call) -> Reply:
    raw = call.args.take("the IP address")
    call.args.done()
    address = parsed(call, ip, raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # `::ffff:203.0.113.7` is how dual-stack logs show an IPv4 client
    f2b, logs = read_all(call)
    age = call.mailcow.age("fail2ban")
    report = BanReport.build(address, f2b)
    mentions = Mentions(address, report.networks)
    netfilter = search("netfilter", logs["netfilter"], mentions)
    auth = [search(name, logs[name], mentions) for name in AUTH_LOGS]
    failures = [(h.name, e) for h in auth for e in h.failures]
    headline, status = report.headline(len(failures))

    blocks = report_fields(report, f2b, auth)
    blocks += log_block("Netfilter log", [(e.priority, e) for e in netfilter.lines], SHOWN_NETFILTER)
    blocks += log_block("Authentication failures", [(LOG_NAMES[n], e) for n, e in failures], SHOWN_AUTH)
    notes = evidence_notes(report, netfilter, auth)
    if notes:
        blocks.append(context(*notes))
    blocks.append(context(settings_note(f2b), f"fail2ban state {freshness(age)}."))
    buttons = action_buttons(report, f2b)
    if buttons:
        blocks.append(actions(*buttons))
    return Reply(headline=headline, blocks=blocks, status=status)


def evidence_notes(report: BanReport, netfilter: LogHits, auth: Sequence[LogHits]) -> list[str]:
    """What the thread's evidence leaves out: unreadable logs, other mentions, unchecked hostnames."""
    notes = [
        f"Could not read the {LOG_NAMES[h.name]} log: {esc(h.problem)}"
        for h in (netfilter, *auth)
        if h.problem
    ]
    if not netfilter.lines and not netfilter.problem:
        notes.append(f"No netfilter line among the newest {number(LOG_LINES)} mentions it.")
    others = sum(len(h.lines) - len(h.failures) for h in auth)
    if others:
        lines = "line mentions" if others == 1 else "lines mention"
        notes.append(f"{number(others)} other mail-log {lines} it.")
    if report.hostnames and not report.allowed_by:
        names = ", ".join(code(h) for h in report.hostnames[:5])
        notes.append(
            f"The allowlist also holds hostnames, which netfilter resolves itself; not checked here: {names}"
        )
    return notes


# --- ban list -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BanRow:
    """One line of `ban list`: an active or permanent ban, or an allow/deny list entry."""

    kind: str
    entry: str
    ban: ActiveBan | None = None

    @property
    def network(self) -> Network | None:
        return as_network(self.entry)


_KIND_ORDER = {"active": 0, "permanent": 1, "allowlist": 2, "denylist": 3}
_KIND_ICON = {
    "active": ":no_entry:",
    "permanent": ":lock:",
    "allowlist": ":white_check_mark:",
    "denylist": ":no_entry_sign:",
}


def _order(row: BanRow) -> tuple[int, int, int, int, str]:
    network = row.network
    if network is None:
        return _KIND_ORDER[row.kind], 9, 0, 0, row.entry
    return _KIND_ORDER[row.kind], network.version, int(network.network_address), network.prefixlen, row.entry


def ban_line(row: BanRow) -> str:
    icon = _KIND_ICON[row.kind]
    if row.ban is not None:
        queued = " · unban queued" if row.ban.queued_for_unban else ""
        return f"{icon} {code(row.entry)} · banned · {time_left(row.ban)}{queued}"
    if row.kind == "permanent":
        return f"{icon} {code(row.entry)} · permanently banned"
    hostname = " (hostname)" if row.network is None else ""
    return f"{icon} {code(row.entry)}{hostname} · {row.kind}"


BAN_TABLE: Table[BanRow] = Table(
    plural="Bans and lists",
    line=ban_line,
    columns=("kind", "network", "seconds_left", "queued_for_unban"),
    cells=lambda r: (
        r.kind,
        r.entry,
        "" if r.ban is None else r.ban.seconds_left(),
        "" if r.ban is None else int(r.ban.queued_for_unban),
    ),
    filename="fail2ban.csv",
)


def ban_rows(f2b: Fail2ban) -> list[BanRow]:
    rows = [
        *(BanRow("active", b.network, b) for b in f2b.active_bans),
        *(BanRow("permanent", b.network) for b in f2b.perm_bans),
        *(BanRow("allowlist", e) for e in f2b.whitelist),
        *(BanRow("denylist", e) for e in f2b.blacklist),
    ]
    return sorted(rows, key=_order)


def busiest_networks(rows: Iterable[BanRow]) -> list[str]:
    """Bans counted by /24 and /64, biggest first, so one network hammering the server stands out."""
    kinds: dict[Network, Counter[str]] = {}
    for row in rows:
        network = row.network
        if row.kind in ("active", "permanent") and network is not None:
            kinds.setdefault(group_of(network), Counter())[row.kind] += 1
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1].total(), kv[0].version, str(kv[0])))
    lines = []
    for network, counts in ranked[:TOP_NETWORKS]:
        split = f" ({counts['active']} active, {counts['permanent']} permanent)" if len(counts) > 1 else ""
        lines.append(f"{code(network)} × {number(counts.total())}{split}")
    return lines


@command(
    "ban",
    "list",
    usage="ban list",
    summary="active and permanent bans grouped by network, and the allow and deny lists",
    example="ban list",
    default=True,
    phrases=("bans",),
)
def list_bans(call: Call) -> Reply:
    call.args.done()
    f2b = call.mailcow.fail2ban()
    age = call.mailcow.age("fail2ban")
    rows = ban_rows(f2b)
    active, permanent = len(f2b.active_bans), len(f2b.perm_bans)
    headline = (
        f"fail2ban: *{number(active)}* active ban{'s' if active != 1 else ''}"
        if active
        else "fail2ban: *no* active bans"
    )
    headline += (
        f" · {number(permanent)} permanent · allowlist {number(len(f2b.whitelist))}"
        f" · denylist {number(len(f2b.blacklist))}"
    )
    busiest = busiest_networks(rows)
    blocks = lines_to_sections(["*Bans by network* (IPv4 /24, IPv6 /64)", *busiest]) if busiest else []
    slash = call.services.settings.command
    return BAN_TABLE.reply(
        rows,
        headline=headline,
        blocks=blocks,
        notes=(
            settings_note(f2b),
            f"fail2ban state {freshness(age)}.",
            f"`{slash} ban IP` explains one address.",
        ),
    )


# --- unban, block, allow ------------------------------------------------------------------------------

UNBAN_SOON = "netfilter lifts it within about 10 s"
LISTS_SOON = "netfilter applies it within about a minute"


def overlaps(entry: str, wanted: Network) -> bool:
    """A ban key or list entry that covers part of `wanted` (containing it, or inside it)."""
    network = as_network(entry)
    return network is not None and network.version == wanted.version and network.overlaps(wanted)


def shown(wanted: Network) -> str:
    """`203.0.113.7` for a single address, `203.0.113.0/24` for a network."""
    single = wanted.prefixlen == wanted.max_prefixlen
    return str(wanted.network_address) if single else str(wanted)


def network_facts(f2b: Fail2ban, wanted: Network) -> str:
    """What fail2ban says about a network, in words; time left is left out, as it changes every second."""
    facts = [
        *sorted(
            f"active ban {b.network}{' (unban queued)' if b.queued_for_unban else ''}"
            for b in f2b.active_bans
            if overlaps(b.network, wanted)
        ),
        *sorted(f"permanent ban {b.network}" for b in f2b.perm_bans if overlaps(b.network, wanted)),
        *sorted(f"allowlist {e}" for e in f2b.whitelist if overlaps(e, wanted)),
        *sorted(f"denylist {e}" for e in f2b.blacklist if overlaps(e, wanted)),
    ]
    return "; ".join(facts) or "not banned, not listed"


@state_reader("ban")
def ban_state(client: MailcowClient, key: str) -> dict[str, str]:
    """For each network in `key` (comma-separated): its bans and list entries, read fresh. The approval
    compares this before it runs, so a ban that expired or was lifted meanwhile stops the run."""
    f2b = client.fail2ban(fresh=True)
    return {entry: network_facts(f2b, ipaddress.ip_network(entry, strict=False)) for entry in key.split(",")}


def network_argument(call: Call, what: str) -> Network:
    """The command's one argument, an address (as its /32 or /128) or a network."""
    wanted = parsed(call, network, call.args.take(what))
    call.args.done()
    return wanted


def ban_plan(call: Call, summary: str, key: str, *api_calls: ApiCall) -> Plan:
    """A plan on fail2ban's entries for `key` (comma-separated networks), read back by `ban_state`."""
    return plan_on(call, "ban", key, summary, *api_calls)


@command(
    "ban",
    "unban",
    usage='unban IP|NET [reason="…"]',
    summary=f"lift fail2ban's active ban on an address or network ({UNBAN_SOON})",
    example='unban 203.0.113.7 reason="password fixed, user locked out"',
    destructive=True,
    phrases=("unban",),
)
def unban(call: Call) -> Plan:
    wanted = network_argument(call, "the banned IP address or network")
    f2b = call.mailcow.fail2ban(fresh=True)
    bans = [b for b in f2b.active_bans if overlaps(b.network, wanted)]
    lifting = sorted((b for b in bans if not b.queued_for_unban), key=lambda b: b.network)
    if not lifting:
        raise ChatopsError(nothing_to_unban(call, wanted, bans, f2b))
    networks = [b.network for b in lifting]  # exactly as listed: netfilter drops a bare IP (§4.5)
    left = (
        time_left(lifting[0])
        if len(lifting) == 1
        else ", ".join(f"{b.network} {time_left(b)}" for b in lifting)
    )
    return ban_plan(
        call,
        f"Unban {', '.join(networks)} ({left} when asked); {UNBAN_SOON}",
        ",".join(networks),
        calls.edit_fail2ban("unban", networks),
    )


def nothing_to_unban(call: Call, wanted: Network, bans: Sequence[ActiveBan], f2b: Fail2ban) -> str:
    if bans:
        names = ", ".join(code(b.network) for b in bans)
        return f"The ban on {names} is already queued for unban; {UNBAN_SOON}."
    permanent = [code(b.network) for b in f2b.perm_bans if overlaps(b.network, wanted)]
    if permanent:
        return (
            f"{code(shown(wanted))} has no active ban, but a permanent one from the denylist "
            f"({', '.join(permanent)}); unban does not lift it. {slash(call, 'ban allow NET')} with that "
            "very network takes it off the denylist (and onto the allowlist)."
        )
    return (
        f"{code(shown(wanted))} is not banned now (fail2ban state just read), so there is nothing to unban. "
        f"{slash(call, f'ban {shown(wanted)}')} shows what is known about it."
    )


@command(
    "ban",
    "add",
    usage='ban add IP|NET [reason="…"]',
    summary=f"ban an address or network for good: put it on fail2ban's denylist ({LISTS_SOON})",
    example='ban add 198.51.100.0/24 reason="password spraying from this hoster"',
    destructive=True,
)
def block(call: Call) -> Plan:
    wanted = network_argument(call, "the IP address or network to block")
    entry = str(wanted)
    f2b = call.mailcow.fail2ban(fresh=True)
    if entry in f2b.blacklist:
        raise ChatopsError(f"{code(entry)} is on the denylist already: it is banned for good.")
    notes = [f"{number(wanted.num_addresses)} addresses"] if wanted.num_addresses > 1 else []
    if entry in f2b.whitelist:
        notes.append("this takes it off the allowlist")
    how = f"denylist; {'; '.join(notes)}" if notes else "denylist"
    return ban_plan(
        call,
        f"Block {entry} permanently ({how}); {LISTS_SOON}",
        entry,
        built(call, lambda: calls.edit_fail2ban("blacklist", entry)),
    )


@command(
    "ban",
    "allow",
    usage='ban allow IP|NET [reason="…"]',
    summary="put an address or network on fail2ban's allowlist (never banned) and lift its active bans",
    example='ban allow 192.0.2.0/24 reason="office NAT"',
    role=Role.OPERATOR,
)
def allow(call: Call) -> Plan:
    wanted = network_argument(call, "the IP address or network to allow")
    entry = str(wanted)
    f2b = call.mailcow.fail2ban(fresh=True)
    if entry in f2b.whitelist:
        raise ChatopsError(f"{code(entry)} is on the allowlist already: fail2ban never bans it.")
    lifted = sorted(
        b.network for b in f2b.active_bans if overlaps(b.network, wanted) and not b.queued_for_unban
    )
    # The allowlist call queues an unban for its own string only; other overlapping bans need theirs.
    others = [n for n in lifted if n != entry]
    summary = f"Allow {entry} (allowlist: fail2ban never bans it)"
    if lifted:
        summary += f" and lift the active ban{'s' if len(lifted) > 1 else ''} on {', '.join(lifted)}"
    return ban_plan(
        call,
        f"{summary}; {LISTS_SOON}",
        entry,
        calls.edit_fail2ban("whitelist", entry),
        *([calls.edit_fail2ban("unban", others)] if others else []),
    )


# --- the buttons on `ban IP` ----------------------------------------------------------------------------

UNBAN_BUTTON = "ban_unban"
ALLOW_BUTTON = "ban_allow"
BLOCK_BUTTON = "ban_block"
BUTTON_COMMANDS = {UNBAN_BUTTON: "unban", ALLOW_BUTTON: "ban allow", BLOCK_BUTTON: "ban add"}
"""What each button runs, with its value (an address or network) appended: the typed command's plan."""


def action_buttons(report: BanReport, f2b: Fail2ban) -> list[ButtonElement]:
    """Unban (when banned), Allow (when not allowlisted), Block (when not banned for good yet).

    Allow and Block act on the network a ban covers (the active ban's, else `netban_ipv4/6`'s), so an
    allowlisting also lifts the current ban and a block matches what fail2ban itself would ban.
    """
    address = str(report.address)
    target = report.active[0].network if report.active else str(ban_network(report.address, f2b))
    found = []
    if any(not b.queued_for_unban for b in report.active):
        found.append(
            button(
                f"Unban {address}",
                UNBAN_BUTTON,
                address,
                confirm=(
                    "Ask to unban?",
                    f"This posts an approval request to lift the ban on {address}.",
                    "Ask",
                ),
            )
        )
    if not report.allowed_by:
        found.append(
            button(
                f"Allow {target}",
                ALLOW_BUTTON,
                target,
                confirm=(
                    f"Allowlist {target}?",
                    "fail2ban will never ban it, and its active bans are lifted. This runs now.",
                    "Allow",
                ),
            )
        )
    if not report.denied_by and not report.permanent:
        found.append(
            button(
                f"Block {target} permanently",
                BLOCK_BUTTON,
                target,
                style="danger",
                confirm=(
                    "Ask to block it for good?",
                    f"This posts an approval request to denylist {target}.",
                    "Ask",
                ),
            )
        )
    return found


# --- ban watch ----------------------------------------------------------------------------------------


def measure_bans(services: Services) -> Reading:
    """Active bans for the watch, with the busiest networks, so a spike's source shows in the alert."""
    f2b = services.mailcow.fail2ban(fresh=True)
    if not f2b.max_attempts:
        raise Unreadable("netfilter has published no fail2ban state (is netfilter-mailcow running?)")
    busiest = busiest_networks(ban_rows(f2b))[:5]
    return Reading(
        numbers={"active": len(f2b.active_bans)},
        facts=[
            ("Active bans", number(len(f2b.active_bans))),
            ("Permanent", number(len(f2b.perm_bans))),
            ("Allowlist", number(len(f2b.whitelist))),
            ("Denylist", number(len(f2b.blacklist))),
        ],
        lines=["*Busiest networks* (IPv4 /24, IPv6 /64)", *busiest] if busiest else [],
    )


BAN_WATCH = watch_kind(
    Kind(
        name="bans",
        area="ban",
        title="fail2ban",
        limits=(Limit("active", "active bans", lambda s: s.watch_bans),),
        measure=measure_bans,
        buttons=(AlertButton("Show bans", "watch_bans_list", "ban list", Role.VIEWER),),
    )
)


@command(
    "ban",
    "watch",
    usage="ban watch [#channel] [active=N] | off | status",
    summary="alert a channel when active bans spike past a threshold: one message per incident",
    example="ban watch #ops active=100",
)
def watch_bans(call: Call) -> Reply:
    return watch.configure_command(call, BAN_WATCH)


def register(app: App, services: Services) -> None:
    """The Unban/Allow/Block buttons of `ban IP`, and the watches' job and buttons."""
    watch.register(app, services)

    def acknowledge(ack: Ack) -> None:
        ack()

    def clicked(body: dict[str, Any], context: dict[str, Any]) -> None:
        action = body["actions"][0]
        command_text = f"{BUTTON_COMMANDS[action['action_id']]} {action['value']}"
        watch.answer_click(services, body, context, command_text, read_only=False)

    for action_id in BUTTON_COMMANDS:
        interaction(action_id, Role.OPERATOR)
        app.action(action_id)(ack=acknowledge, lazy=[clicked])
