"""`/mailcow logs TYPE [N] [grep=TEXT]`: every log mailcow keeps, readable in a thread.

Each log type has its own fields (SERVER-FACTS §4.6), so each has a `LogKind`: the columns worth
showing, how a line reads, and how odd values are decoded (ACME's `base64,` messages, the UI log's
translation keys). Only those columns are rendered, searched by `grep=` and exported as CSV, which
is how secrets stay out: the `api` log's `data` (request bodies; mailcow masks only `pass*` keys,
§0.10) and the `ui` log's `call` are never among them, so they can be neither shown nor probed
with `grep=`.

`grep=` filters after fetching (mailcow cannot), so it reads a larger window than N, bounded by
`GREP_WINDOW`, and the answer says how many lines were searched.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from slack_sdk.models.blocks import Block

from bot.args import integer
from bot.mailcow import LogEntry, translate
from bot.render import Listing, clip, code, context, esc, lines_to_sections, number, utc
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import parsed, plural

describe_area("logs", "mailcow's logs (postfix, dovecot, netfilter, rspamd, …), newest first, with grep")

DEFAULT_LINES = 50
MAX_LINES = 1000
GREP_WINDOW = 5000
"""How many of the newest lines `grep=` searches (mailcow keeps about 10,000 per log)."""
MESSAGE_CLIP = 1000
"""Longest log message shown in the thread; the CSV keeps it whole."""

NICKNAMES = {
    "rspamd": "rspamd-history",
    "spam": "rspamd-history",
    "fail2ban": "netfilter",
    "f2b": "netfilter",
    "ratelimit": "ratelimited",
    "smtp": "postfix",
    "imap": "dovecot",
    "webmail": "sogo",
    "letsencrypt": "acme",
}
_LOUD = {"emerg", "alert", "crit", "err", "error", "danger", "reject"}
_WARN = {"warn", "warning", "soft reject", "add header", "rewrite subject", "greylist"}


@dataclass(frozen=True)
class LogRow:
    """One log entry reduced to what may be shown: its time and its kind's columns, as text."""

    when: str
    cells: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.cells.get(name, "")

    def matches(self, needle: str) -> bool:
        return needle in self.when.lower() or any(needle in v.lower() for v in self.cells.values())


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _acme_message(value: object) -> str:
    """The ACME container logs some messages as `base64,<data>`."""
    text = _plain(value)
    if not text.startswith("base64,"):
        return text
    try:
        return base64.b64decode(text.removeprefix("base64,"), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


def _ui_message(value: object) -> str:
    """The UI log stores mailcow's message as JSON: a key or `[key, args…]`, translated here."""
    text = _plain(value)
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = text
    if isinstance(decoded, list) and decoded:
        return translate(str(decoded[0]), [str(a) for a in decoded[1:]])
    return translate(str(decoded)) if decoded else ""


def _score(value: object) -> str:
    try:
        return f"{float(str(value)):.2f}"
    except ValueError:
        return _plain(value)


@dataclass(frozen=True)
class LogKind:
    """How one log type reads: what it is for, the columns that may be shown, a line, and decoders."""

    about: str
    columns: tuple[str, ...]
    line: Callable[[LogRow], str]
    decode: Mapping[str, Callable[[object], str]] = field(default_factory=dict)
    note: str = ""

    def row(self, entry: LogEntry) -> LogRow:
        cells = {}
        for name in self.columns:
            raw = getattr(entry, name) if name in LogEntry.model_fields else entry.field(name)
            cells[name] = self.decode.get(name, _plain)(raw)
        when = utc(entry.time) if entry.time else _plain(entry.field("datetime")) or "?"
        return LogRow(when, cells)


def _mark(level: str) -> str:
    level = level.lower()
    return ":red_circle: " if level in _LOUD else ":large_orange_circle: " if level in _WARN else ""


def _message(row: LogRow) -> str:
    return code(clip(row["message"], MESSAGE_CLIP))


def _syslog_line(row: LogRow) -> str:
    return f"{code(row.when)} {_mark(row['priority'])}*{esc(row['program'])}* {_message(row)}"


def _netfilter_line(row: LogRow) -> str:
    return f"{code(row.when)} {_mark(row['priority'])}{_message(row)}"


def _cron_line(row: LogRow) -> str:
    return f"{code(row.when)} {_mark(row['priority'])}*{esc(row['task'])}* {_message(row)}"


def _acme_line(row: LogRow) -> str:
    return f"{code(row.when)} {_message(row)}"


def _autodiscover_line(row: LogRow) -> str:
    return (
        f"{code(row.when)} {esc(row['user'] or '?')} from {code(row['ip'])} · {esc(row['service'])} · "
        f"_{esc(clip(row['ua'], 200))}_"
    )


def _api_line(row: LogRow) -> str:
    return f"{code(row.when)} *{esc(row['method'])}* {code(clip(row['uri'], 300))} from {code(row['remote'])}"


def _ratelimited_line(row: LogRow) -> str:
    who = row["user"] or row["from"] or "?"
    subject = f" · “{esc(clip(row['header_subject'], 200))}”" if row["header_subject"] else ""
    return (
        f"{code(row.when)} *{esc(who)}* hit the {code(row['rl_name'] or '?')} limit → "
        f"{esc(clip(row['rcpt'], 300))}{subject} · qid {code(row['qid'] or '?')} · from {code(row['ip'])}"
    )


def _watchdog_line(row: LogRow) -> str:
    if not row["service"]:
        return f"{code(row.when)} {_message(row)}"
    hurt = row["hpnow"] != row["hptotal"]
    diff = f" ({row['hpdiff']})" if row["hpdiff"] not in ("", "0") else ""
    mark = ":large_orange_circle: " if hurt else ""
    health = f"{esc(row['hpnow'])}/{esc(row['hptotal'])}"
    return f"{code(row.when)} {mark}*{esc(row['service'])}* health {health}{diff}"


def _rspamd_line(row: LogRow) -> str:
    action = row["action"] or "?"
    subject = f" · “{esc(clip(row['subject'], 200))}”" if row["subject"] else ""
    return (
        f"{code(row.when)} {_mark(action)}*{esc(action)}* {row['score']}/{row['required_score']} · "
        f"{esc(row['sender_smtp'] or '<>')} → {esc(clip(row['rcpt_smtp'], 300))}{subject}"
    )


def _ui_line(row: LogRow) -> str:
    return (
        f"{code(row.when)} {_mark(row['type'])}{esc(row['user'] or '?')} ({esc(row['role'])}) "
        f"from {code(row['remote'])}: {esc(clip(row['msg'], MESSAGE_CLIP))}"
    )


def _sasl_line(row: LogRow) -> str:
    app = f" · app password #{esc(row['app_password'])}" if row["app_password"] not in ("", "0") else ""
    return (
        f"{code(row.when)} {esc(row['username'])} via {esc(row['service'])} from {code(row['real_rip'])}{app}"
    )


_SYSLOG = ("priority", "program", "message")
KINDS: dict[str, LogKind] = {
    "postfix": LogKind("SMTP in and out: deliveries, deferrals, rejects", _SYSLOG, _syslog_line),
    "dovecot": LogKind("IMAP/POP3 logins and mailbox access", _SYSLOG, _syslog_line),
    "sogo": LogKind("SOGo webmail, calendars and contacts", _SYSLOG, _syslog_line),
    "netfilter": LogKind("fail2ban: failed logins, bans, unbans", ("priority", "message"), _netfilter_line),
    "autodiscover": LogKind(
        "mail clients asking for their settings", ("user", "ip", "service", "ua"), _autodiscover_line
    ),
    "api": LogKind(
        "calls to mailcow's API: method, URI, caller",
        ("method", "uri", "remote"),
        _api_line,
        note="Request bodies (`data`) are not shown: mailcow does not mask every secret in them.",
    ),
    "ratelimited": LogKind(
        "mail held back by a rate limit: who hit which limit",
        (
            "user",
            "from",
            "rcpt",
            "rl_name",
            "rl_info",
            "rl_hash",
            "qid",
            "ip",
            "message_id",
            "header_subject",
            "header_from",
        ),
        _ratelimited_line,
    ),
    "watchdog": LogKind(
        "container health checks", ("service", "lvl", "hpnow", "hptotal", "hpdiff", "message"), _watchdog_line
    ),
    "acme": LogKind(
        "Let's Encrypt certificate requests and renewals",
        ("message",),
        _acme_line,
        decode={"message": _acme_message},
    ),
    "rspamd-history": LogKind(
        "spam filter verdicts: action, score, sender → recipient, subject",
        ("action", "score", "required_score", "sender_smtp", "rcpt_smtp", "subject", "ip", "message-id"),
        _rspamd_line,
        decode={"score": _score, "required_score": _score},
        note="mailcow also answers an empty rspamd history when it cannot reach rspamd.",
    ),
    "cron": LogKind("LDAP/Keycloak sync jobs", ("priority", "task", "message"), _cron_line),
    "ui": LogKind(
        "actions in the mailcow web UI",
        ("user", "role", "remote", "type", "task", "msg"),
        _ui_line,
        decode={"msg": _ui_message},
    ),
    "sasl": LogKind(
        "successful SMTP/IMAP/POP3 logins: who, from where",
        ("username", "service", "real_rip", "app_password"),
        _sasl_line,
    ),
}
"""One entry per type in the client's LOG_TYPES (a test checks that they stay in step)."""


def _line_count(value: str) -> int:
    return integer(value, "N (how many lines)", minimum=1, maximum=MAX_LINES)


def _log_type(call: Call, word: str) -> str:
    name = NICKNAMES.get(word.lower(), word.lower())
    if name in KINDS:
        return name
    close = difflib.get_close_matches(name, [*KINDS, *NICKNAMES], n=1, cutoff=0.6)
    hint = f" Did you mean `{NICKNAMES.get(close[0], close[0])}`?" if close else ""
    raise call.args.error(f"`{word}` is not a log type.{hint} Expected one of: {', '.join(KINDS)}.")


def _types_reply(call: Call) -> Reply:
    slash = call.services.settings.command
    lines = [f"`{name}` — {esc(kind.about)}" for name, kind in KINDS.items()]
    blocks: list[Block] = lines_to_sections(lines)
    blocks.append(
        context(
            f"`{slash} logs TYPE [N] [grep=TEXT]`: the newest N lines (default {DEFAULT_LINES}, at most "
            f"{number(MAX_LINES)}), e.g. `{slash} logs postfix 100 grep=jane@example.org`."
        )
    )
    return Reply(
        headline=f"*{len(KINDS)} logs* to read with `{slash} logs TYPE`", blocks=blocks, ephemeral=True
    )


@command(
    "logs",
    "show",
    usage="logs [TYPE] [N] [grep=TEXT]",
    summary=f"the newest N lines (default {DEFAULT_LINES}, at most {MAX_LINES:,}) of a mailcow log, "
    "optionally only those containing TEXT; `logs` alone lists the types",
    example="logs postfix 100 grep=jane@example.org",
    default=True,
    accepts=lambda word: True,
)
def show_logs(call: Call) -> Reply:
    word = call.args.take_optional()
    if word is None or word.lower() in ("list", "types"):
        call.args.done()
        return _types_reply(call)
    log_type = _log_type(call, word)
    count = call.args.take_optional()
    wanted = DEFAULT_LINES if count is None else parsed(call, _line_count, count)
    grep = call.args.option("grep")
    if grep is not None and not grep.strip():
        raise call.args.error("`grep=` needs the text to look for, e.g. `grep=jane@example.org`.")
    call.args.done()
    kind = KINDS[log_type]
    entries = call.mailcow.logs(log_type, GREP_WINDOW if grep else wanted)
    rows = [kind.row(e) for e in entries]
    searched = len(rows)
    if grep:
        needle = grep.strip().lower()
        rows = [r for r in rows if r.matches(needle)][:wanted]
    notes = [n for n in ("Newest first · times in UTC.", kind.note) if n]
    if grep:
        notes.append(
            f"`grep` searched the newest {plural(searched, 'line')} (at most {number(GREP_WINDOW)}), "
            f"ignoring case, and shows up to {number(wanted)} matches."
        )
    blocks: list[Block] = [context(*notes)]
    if not rows:
        headline = (
            f"No line of the newest {number(searched)} in the `{log_type}` log contains {code(grep)}."
            if grep
            else f"The `{log_type}` log is empty."
        )
        return Reply(headline=headline, blocks=blocks)
    lines = plural(len(rows), "line")
    if grep:
        headline = f"`{log_type}` log: {lines} containing {code(grep)}, newest first"
    elif len(rows) < wanted:
        headline = f"`{log_type}` log: {lines}, the whole log"
    else:
        headline = f"`{log_type}` log: the newest {lines}"
    listing = Listing(
        title=f"{log_type} log, newest first (UTC)",
        rows=rows,
        line=kind.line,
        csv_columns=("time_utc", *kind.columns),
        csv_row=lambda row: (row.when, *(row[c] for c in kind.columns)),
        per_page=25,
        filename=f"{log_type}-log.csv",
    )
    return Reply(headline=headline, blocks=blocks, listing=listing)
