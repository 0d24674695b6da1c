"""`/mailcow mailbox …`: who has a mailbox, how full it is, and whether they can log in.

`mailbox show` is the help-desk view: the questions behind "I can't get my mail" (is it active, is
it full, when did they last log in, which protocols may they use, must they change their password,
is their password even managed by mailcow) plus the aliases that deliver into it, which answers "why
do I get mail for sales@".

mailcow's `active` has three values (SERVER-FACTS §4.2): 1 active, 0 inactive, and 2 "login
disabled, mail still accepted", the state for someone who left but whose mail must keep arriving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.args import address as valid_address
from bot.mailcow import Alias, Mailbox
from bot.render import Listing, ago, code, context, duration, esc, fields, freshness, number, size, utc
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import parsed, plural, rate_text, slash
from commands.alias import goto_text
from commands.domain import empty_in_domain, optional_domain, quota_text, try_read

describe_area(
    "mailbox",
    "mailboxes: quota, state, logins, protocols, and the aliases that deliver to them",
    aliases=("mailboxes",),
)

ACTIVE_STATES = {0: "inactive", 1: "active", 2: "login disabled, mail accepted"}
NEARLY_FULL = 90
"""Percent of quota from which a mailbox is flagged as nearly full."""
SHOWN_ALIASES = 20
_PROTOCOLS = (
    ("imap_access", "IMAP"),
    ("pop3_access", "POP3"),
    ("smtp_access", "SMTP"),
    ("sieve_access", "Sieve"),
    ("eas_access", "ActiveSync"),
    ("dav_access", "CalDAV/CardDAV"),
    ("sogo_access", "SOGo webmail"),
)
_AUTHSOURCES = {
    "mailcow": "mailcow (passwords are set in mailcow)",
    "ldap": "LDAP: password changes happen in the directory, not in mailcow",
    "keycloak": "Keycloak (OIDC): password changes happen in Keycloak, not in mailcow",
    "generic-oidc": "OIDC: password changes happen at the identity provider, not in mailcow",
}


def _state_text(active: int) -> str:
    return ACTIVE_STATES.get(active, f"unknown state {active}")


def _state_mark(active: int) -> str:
    return {1: "", 2: " · :no_entry_sign: login disabled, mail accepted"}.get(
        active, " · :no_entry: *inactive*"
    )


def _used_percent(box: Mailbox) -> int:
    return round(box.quota_used * 100 / box.quota) if box.quota else 0


def _mailbox_line(box: Mailbox) -> str:
    name = f" — {esc(box.name)}" if box.name else ""
    full = " :warning:" if box.quota and _used_percent(box) >= NEARLY_FULL else ""
    return (
        f"{code(box.username)}{name}{_state_mark(box.active)}\n"
        f"      {quota_text(box.quota_used, box.quota)}{full} · last login {ago(box.last_login)}"
    )


def _mailbox_cells(box: Mailbox) -> tuple[object, ...]:
    return (
        box.username,
        box.name,
        box.active,
        _state_text(box.active),
        box.quota,
        box.quota_used,
        _used_percent(box) if box.quota else "",
        box.messages,
        utc(box.last_login) if box.last_login else "",
        box.authsource,
        ";".join(box.tags),
    )


SORTS: dict[str, tuple[Callable[[Mailbox], Any], bool]] = {
    "address": (lambda b: b.username, False),
    "usage": (lambda b: (_used_percent(b), b.quota_used), True),
    "login": (lambda b: b.last_login, True),
    "name": (lambda b: (b.name.lower(), b.username), False),
}


@command(
    "mailbox",
    "list",
    usage="mailbox list [DOMAIN] [sort=address|usage|login|name]",
    summary="mailboxes with quota used, state and last login; all domains or one",
    example="mailbox list example.org sort=usage",
)
def list_mailboxes(call: Call) -> Reply:
    wanted = optional_domain(call)
    sort = (call.args.option("sort") or "address").lower()
    if sort not in SORTS:
        raise call.args.error(f"`sort={sort}` is not a sort order; expected one of {', '.join(SORTS)}.")
    call.args.done()
    boxes = call.mailcow.mailboxes(wanted)
    if not boxes:
        return empty_in_domain(call, wanted, "mailboxes", f"Create one with {slash(call, 'mailbox create')}.")
    key, descending = SORTS[sort]
    boxes = sorted(boxes, key=key, reverse=descending)
    states = {state: sum(1 for b in boxes if b.active == state) for state in ACTIVE_STATES}
    nearly_full = sum(1 for b in boxes if b.quota and _used_percent(b) >= NEARLY_FULL)
    where = f" in {code(wanted)}" if wanted else ""
    others = " · ".join(
        f"{number(n)} {_state_text(state)}" for state, n in states.items() if n and state != 1
    )
    headline = (
        f"*{plural(len(boxes), 'mailbox', 'mailboxes')}*{where} — "
        f"{number(states[1])} active{f' · {others}' if others else ''} · "
        f"{size(sum(b.quota_used for b in boxes))} used"
    )
    blocks: list[Block] = fields(
        [
            ("Active", number(states[1])),
            ("Login disabled, mail accepted", number(states[2])),
            ("Inactive", number(states[0])),
            (f"At least {NEARLY_FULL}% full", number(nearly_full)),
        ]
    )
    blocks.append(
        context(
            freshness(call.mailcow.age("mailboxes")),
            f"Details: {slash(call, 'mailbox show ADDRESS')} · fullest first: `sort=usage`",
        )
    )
    listing = Listing(
        title=f"Mailboxes{f' in {wanted}' if wanted else ''}, by {sort}",
        rows=boxes,
        line=_mailbox_line,
        csv_columns=(
            "address",
            "name",
            "active",
            "state",
            "quota_bytes",
            "quota_used_bytes",
            "percent_used",
            "messages",
            "last_login_utc",
            "authsource",
            "tags",
        ),
        csv_row=_mailbox_cells,
        filename=f"mailboxes{f'-{wanted}' if wanted else ''}.csv",
    )
    return Reply(headline=headline, blocks=blocks, listing=listing)


def _login(timestamp: int) -> str:
    return f"{ago(timestamp)} ({utc(timestamp)})" if timestamp else "never"


def _password_changed(box: Mailbox) -> str:
    """`attributes.passwd_update` is a DB datetime in the server's time zone; its age is approximate."""
    value = box.attributes.get("passwd_update", "")
    if not value:
        return "unknown"
    try:
        changed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return esc(value)
    return f"{esc(value)} (about {duration(time.time() - changed.timestamp())} ago)"


def _flag(box: Mailbox, name: str) -> bool:
    return box.attributes.get(name, "0") == "1"


def _protocols(box: Mailbox) -> str:
    allowed = [label for key, label in _PROTOCOLS if _flag(box, key)]
    denied = [label for key, label in _PROTOCOLS if key in box.attributes and not _flag(box, key)]
    text = f"allowed: {', '.join(allowed) or 'none'}"
    return f"{text}\n*denied: {', '.join(denied)}*" if denied else text


def _tls(box: Mailbox) -> str:
    def required(name: str) -> str:
        return "required" if _flag(box, name) else "not required"

    return f"incoming: {required('tls_enforce_in')}\noutgoing: {required('tls_enforce_out')}"


def _rate_limit(box: Mailbox) -> str:
    text = rate_text(box.rl)
    if box.rl is not None and box.rl_scope == "domain":
        return f"{text} (the domain's limit)"
    return text


def _force_password_change(box: Mailbox) -> str:
    if not _flag(box, "force_pw_update"):
        return "no"
    return "*yes*: until a new password is set, only the mailcow web UI login works"


def _alias_line(alias: Alias, target: str) -> str:
    notes = []
    if alias.is_catch_all:
        notes.append(f"catch-all for {esc(alias.address)}")
    others = [g for g in alias.gotos() if g.lower() != target]
    if others:
        notes.append(f"also to {plural(len(others), 'other')}")
    if alias.active != 1:
        notes.append("*inactive*")
    return code(alias.address) + (f" ({', '.join(notes)})" if notes else "")


def _aliases_field(call: Call, box: Mailbox) -> str:
    aliases, problem = try_read(call.mailcow.aliases)
    if aliases is None:
        return f"could not be read: {esc(problem)}"
    target = box.username.lower()
    pointing = sorted(
        (a for a in aliases if target in (g.lower() for g in a.gotos())), key=lambda a: a.address
    )
    if not pointing:
        return "none"
    lines = [_alias_line(a, target) for a in pointing[:SHOWN_ALIASES]]
    if len(pointing) > SHOWN_ALIASES:
        lines.append(f"… and {len(pointing) - SHOWN_ALIASES} more: {slash(call, f'alias list {box.domain}')}")
    return "\n".join(lines)


@command(
    "mailbox",
    "show",
    usage="mailbox show ADDRESS",
    summary="one mailbox for the help desk: state, quota, logins, password, protocols, aliases to it",
    example="mailbox show jane@example.org",
    accepts=lambda word: "@" in word,
)
def show_mailbox(call: Call) -> Reply:
    addr = parsed(call, valid_address, call.args.take("ADDRESS"))
    call.args.done()
    box = call.mailcow.mailbox(addr)
    if box is None:
        return _no_mailbox(call, addr)
    pairs: list[tuple[str, object]] = [
        ("Name", esc(box.name) or "–"),
        ("State", _state_text(box.active)),
        ("Quota", quota_text(box.quota_used, box.quota)),
        ("Messages", number(box.messages)),
        (
            "Last login",
            "\n".join(
                f"{label}: {_login(ts)}"
                for label, ts in (
                    ("IMAP", box.last_imap_login),
                    ("SMTP", box.last_smtp_login),
                    ("POP3", box.last_pop3_login),
                    ("SSO", box.last_sso_login),
                )
            ),
        ),
        ("Password changed", _password_changed(box)),
        ("Must change password", _force_password_change(box)),
        ("Authentication", esc(_AUTHSOURCES.get(box.authsource, box.authsource))),
        ("Protocols", _protocols(box)),
        ("TLS enforced", _tls(box)),
        ("Rate limit", _rate_limit(box)),
        ("Tags", ", ".join(code(t) for t in box.tags) or "none"),
        (
            "May also send as",
            ", ".join(code(a) for a in box.sender_acl) or "only its own address and aliases",
        ),
        ("Aliases delivering here", _aliases_field(call, box)),
        ("Created", esc(box.created) or "?"),
        ("Modified", esc(box.modified) or "never"),
    ]
    blocks = fields(pairs)
    blocks.append(context(f"Domain: {slash(call, f'domain show {box.domain}')}"))
    full = box.quota and _used_percent(box) >= NEARLY_FULL
    name = f" ({esc(box.name)})" if box.name else ""
    headline = (
        f"{code(box.username)}{name} — {_state_text(box.active)} · "
        f"{quota_text(box.quota_used, box.quota)}{' :warning: nearly full' if full else ''} · "
        f"last login {ago(box.last_login)}"
    )
    return Reply(headline=headline, blocks=blocks, status="warn" if full or box.active != 1 else "info")


def _no_mailbox(call: Call, addr: str) -> Reply:
    """Not an error: say so, and whether the address is an alias (the usual reason for the question)."""
    domain = addr.rpartition("@")[2]
    alias, _ = try_read(lambda: call.mailcow.alias(addr))
    if alias is not None:
        return Reply(
            headline=f"No mailbox {code(addr)}: it is an alias that delivers to {goto_text(alias.gotos())}.",
            blocks=[context(f"Aliases of the domain: {slash(call, f'alias list {domain}')}")],
        )
    return Reply(
        headline=f"No mailbox {code(addr)}.",
        blocks=[context(f"Mailboxes in that domain: {slash(call, f'mailbox list {domain}')}")],
        status="warn",
    )
