"""`/mailcow domain …`: the domains on this mailcow, their limits, and how full they are.

mailcow reports two different "quota used" numbers for a domain (SERVER-FACTS §4.1):
`quota_used_in_domain` is what is *allocated* to mailboxes (the sum of their quotas), `bytes_total`
is what is really *stored*. Running out of the first blocks new mailboxes; running out of disk is
the second. Both are shown, labelled, so nobody reads one as the other.

The helpers at the top (quota and rate-limit wording, argument checks, "no such domain", secondary reads)
are shared by the mailbox, alias, DKIM, logs and quarantine commands, which describe parts of a domain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from slack_sdk.models.blocks import Block

from bot.args import UsageError
from bot.args import domain as valid_domain
from bot.mailcow import Domain, MailcowError
from bot.mailcow.models import RateLimitValue
from bot.render import Listing, code, context, esc, fields, freshness, number, size
from bot.reply import Reply
from commands import Call, command, describe_area

describe_area(
    "domain",
    "the mail domains: limits, quota allocated and stored, relay settings, admins",
    aliases=("domains",),
)

T = TypeVar("T")

_FRAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def quota_text(used: int, limit: int) -> str:
    """`1.2 GiB of 3.0 GiB (40%)`; a limit of 0 is mailcow's "unlimited" (§4.2)."""
    if not limit:
        return f"{size(used)} of unlimited"
    return f"{size(used)} of {size(limit)} ({used * 100 / limit:.0f}%)"


def rate_limit_text(limit: RateLimitValue | None) -> str:
    if limit is None or not limit.value:
        return "none"
    return f"{number(limit.value)} messages per {_FRAMES.get(limit.frame, limit.frame or '?')}"


def plural(count: int, word: str, many: str = "") -> str:
    """`1 mailbox`, `5,000 mailboxes`."""
    return f"{number(count)} {word if count == 1 else many or word + 's'}"


def parsed(call: Call, check: Callable[[str], T], value: str) -> T:
    """`check(value)`; a validator's complaint comes back with the command's usage line attached."""
    try:
        return check(value)
    except UsageError as error:
        raise call.args.error(error.message) from None


def slash(call: Call, text: str) -> str:
    """A command the person can copy, spelled with this workspace's slash command."""
    return code(f"{call.services.settings.command} {text}")


def optional_domain(call: Call) -> str | None:
    """The optional `[D]` argument of the list commands, validated."""
    value = call.args.take_optional()
    return parsed(call, valid_domain, value) if value is not None else None


def try_read(read: Callable[[], T]) -> tuple[T | None, str]:
    """A secondary read that must not sink the whole answer: `(value, "")` or `(None, why it failed)`."""
    try:
        return read(), ""
    except MailcowError as error:
        return None, error.user_message


def no_domain(call: Call, name: str) -> Reply:
    """The answer when a command names a domain mailcow does not have (a plain answer, not an error)."""
    return Reply(
        headline=f"No domain {code(name)} on this mailcow.",
        blocks=[context(f"{slash(call, 'domain list')} shows every domain.")],
        status="warn",
    )


def empty_in_domain(call: Call, name: str | None, what: str, hint: str) -> Reply:
    """`{}` for a domain's list means either "none there" or "no such domain": say which."""
    if name is not None and call.mailcow.domain(name) is None:
        return no_domain(call, name)
    where = f" in {code(name)}" if name else ""
    return Reply(headline=f"No {what}{where}.", blocks=[context(hint)] if hint else [])


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _state(active: int) -> str:
    return "active" if active == 1 else "inactive"


def _display_name(dom: Domain) -> str:
    if dom.domain_h_name and dom.domain_h_name != dom.domain_name:
        return f"{dom.domain_h_name} ({dom.domain_name})"
    return dom.domain_name


def _domain_line(dom: Domain) -> str:
    inactive = " · :no_entry: *inactive*" if not dom.is_active else ""
    description = (
        f" — {esc(dom.description)}" if dom.description and dom.description != dom.domain_name else ""
    )
    return (
        f"*{esc(_display_name(dom))}*{description}{inactive}\n"
        f"      mailboxes {number(dom.mboxes_in_domain)} of {number(dom.max_num_mboxes_for_domain)} · "
        f"quota {quota_text(dom.quota_used_in_domain, dom.max_quota_for_domain)} allocated · "
        f"{size(dom.bytes_total)} stored"
    )


def _domain_cells(dom: Domain) -> tuple[object, ...]:
    return (
        dom.domain_name,
        dom.description,
        dom.active,
        dom.mboxes_in_domain,
        dom.max_num_mboxes_for_domain,
        dom.aliases_in_domain,
        dom.max_num_aliases_for_domain,
        dom.quota_used_in_domain,
        dom.max_quota_for_domain,
        dom.bytes_total,
        dom.msgs_total,
        ";".join(dom.tags),
    )


@command(
    "domain",
    "list",
    usage="domain list",
    summary="every domain: mailboxes used of the limit, quota allocated of the limit, active or not",
    example="domain list",
)
def list_domains(call: Call) -> Reply:
    call.args.done()
    domains = sorted(call.mailcow.domains(), key=lambda d: d.domain_name)
    if not domains:
        return Reply(
            headline="No domains on this mailcow yet.",
            blocks=[context(f"Add one with {slash(call, 'domain add example.org')}.")],
        )
    inactive = sum(1 for d in domains if not d.is_active)
    mailboxes = sum(d.mboxes_in_domain for d in domains)
    stored = sum(d.bytes_total for d in domains)
    headline = (
        f"*{plural(len(domains), 'domain')}*{f' ({number(inactive)} inactive)' if inactive else ''} · "
        f"{plural(mailboxes, 'mailbox', 'mailboxes')} · {size(stored)} stored"
    )
    blocks: list[Block] = [
        context(freshness(call.mailcow.age("domains")), f"Details: {slash(call, 'domain show DOMAIN')}")
    ]
    listing = Listing(
        title="Domains",
        rows=domains,
        line=_domain_line,
        csv_columns=(
            "domain",
            "description",
            "active",
            "mailboxes",
            "mailbox_limit",
            "aliases",
            "alias_limit",
            "quota_allocated_bytes",
            "quota_limit_bytes",
            "stored_bytes",
            "messages",
            "tags",
        ),
        csv_row=_domain_cells,
        filename="domains.csv",
    )
    return Reply(headline=headline, blocks=blocks, listing=listing)


def _dkim_field(call: Call, name: str) -> str:
    key, problem = try_read(lambda: call.mailcow.dkim(name))
    if problem:
        return f"could not be read: {esc(problem)}"
    if key is None:
        return f"no key — create one with {slash(call, f'dkim add {name}')}"
    record = slash(call, f"dkim show {name}")
    return f"selector {code(key.dkim_selector)}, {esc(key.length)} bit — DNS record: {record}"


def _relay_field(dom: Domain) -> str:
    parts = [
        f"backup MX: {_yes_no(dom.backupmx)}",
        f"relay all recipients: {_yes_no(dom.relay_all_recipients)}",
        f"relay unknown only: {_yes_no(dom.relay_unknown_only)}",
    ]
    if dom.relayhost:
        parts.append(f"sender-dependent transport #{dom.relayhost}")
    return "\n".join(parts)


@command(
    "domain",
    "show",
    usage="domain show DOMAIN",
    summary="one domain: limits, quota allocated vs stored, rate limit, relay, admins, DKIM",
    example="domain show example.org",
    accepts=lambda word: "." in word,
)
def show_domain(call: Call) -> Reply:
    name = parsed(call, valid_domain, call.args.take("DOMAIN"))
    call.args.done()
    dom = call.mailcow.domain(name)
    if dom is None:
        return no_domain(call, name)
    alias_note = (
        f"{code(name)} is an alias domain of {code(dom.domain_name)}; this is {code(dom.domain_name)}."
        if dom.domain_name != name
        else ""
    )
    admins = "none" if dom.domain_admins in ("", "-") else esc(dom.domain_admins)
    pairs: list[tuple[str, object]] = [
        ("Description", esc(dom.description) or "–"),
        ("State", _state(dom.active)),
        (
            "Mailboxes",
            f"{number(dom.mboxes_in_domain)} of {number(dom.max_num_mboxes_for_domain)} "
            f"({number(dom.mboxes_left)} left)",
        ),
        (
            "Aliases",
            f"{number(dom.aliases_in_domain)} of {number(dom.max_num_aliases_for_domain)} "
            f"({number(dom.aliases_left)} left)",
        ),
        (
            "Mailbox quota",
            f"default {size(dom.def_quota_for_mbox)} · max {size(dom.max_quota_for_mbox)}",
        ),
        (
            "Domain quota",
            f"{quota_text(dom.quota_used_in_domain, dom.max_quota_for_domain)} allocated to mailboxes",
        ),
        ("Stored", f"{size(dom.bytes_total)} in {number(dom.msgs_total)} messages"),
        ("Rate limit", rate_limit_text(dom.rl)),
        ("Relay", _relay_field(dom)),
        ("Global address list", _yes_no(dom.gal)),
        ("Domain admins", admins),
        ("Tags", ", ".join(code(t) for t in dom.tags) or "none"),
        ("Created", esc(dom.created) or "?"),
        ("Modified", esc(dom.modified) or "never"),
        ("DKIM", _dkim_field(call, dom.domain_name)),
    ]
    blocks = fields(pairs)
    blocks.append(
        context(
            *(n for n in (alias_note,) if n),
            "Quota *allocated* is the sum of the mailboxes' quotas; *stored* is what is on disk.",
            f"Mailboxes: {slash(call, f'mailbox list {dom.domain_name}')} · "
            f"aliases: {slash(call, f'alias list {dom.domain_name}')}",
        )
    )
    headline = (
        f"{code(_display_name(dom))} — {_state(dom.active)} · "
        f"{number(dom.mboxes_in_domain)} of {number(dom.max_num_mboxes_for_domain)} mailboxes · "
        f"{quota_text(dom.quota_used_in_domain, dom.max_quota_for_domain)} allocated · "
        f"{size(dom.bytes_total)} stored"
    )
    return Reply(headline=headline, blocks=blocks, status="info" if dom.is_active else "warn")
