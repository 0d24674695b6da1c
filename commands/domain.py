"""`/mailcow domain …`: the domains on this mailcow, their limits, and how full they are.

mailcow reports two different "quota used" numbers for a domain (SERVER-FACTS §4.1):
`quota_used_in_domain` is what is *allocated* to mailboxes (the sum of their quotas), `bytes_total`
is what is really *stored*. Running out of the first blocks new mailboxes; running out of disk is
the second. Both are shown, labelled, so nobody reads one as the other.

The helpers at the top (quota wording, counts, the optional domain argument, "no such domain",
secondary reads) are shared by the mailbox, alias, DKIM, logs, quarantine and spam-policy commands,
which describe parts of a domain.
The changes (`domain add`, `edit`, `delete`, the create-domain form) follow the reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt import App
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.args import UsageError
from bot.args import domain as valid_domain
from bot.args import flag as valid_flag
from bot.args import integer as valid_integer
from bot.errors import ChatopsError
from bot.mailcow import Domain, MailcowClient, MailcowError, calls
from bot.plans import Plan, state_reader
from bot.render import Listing, code, context, esc, fields, freshness, number, size
from bot.reply import Reply
from bot.roles import Role
from bot.services import Services
from commands import Call, command, describe_area
from commands._modals import (
    Invalid,
    Ready,
    Submission,
    checkboxes_input,
    form,
    modal,
    number_input,
    text_input,
    trigger,
)
from commands._tables import active, parsed, plural, rate_text, slash, yes_no
from commands._writes import plan_on

describe_area(
    "domain",
    "the mail domains: limits, quota allocated and stored, relay settings, admins",
    aliases=("domains",),
)

T = TypeVar("T")


def quota_text(used: int, limit: int) -> str:
    """`1.2 GiB of 3.0 GiB (40%)`; a limit of 0 is mailcow's "unlimited" (§4.2)."""
    if not limit:
        return f"{size(used)} of unlimited"
    return f"{size(used)} of {size(limit)} ({used * 100 / limit:.0f}%)"


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
        f"backup MX: {yes_no(dom.backupmx)}",
        f"relay all recipients: {yes_no(dom.relay_all_recipients)}",
        f"relay unknown only: {yes_no(dom.relay_unknown_only)}",
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
        ("State", active(dom.is_active)),
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
        ("Rate limit", rate_text(dom.rl)),
        ("Relay", _relay_field(dom)),
        ("Global address list", yes_no(dom.gal)),
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
        f"{code(_display_name(dom))} — {active(dom.is_active)} · "
        f"{number(dom.mboxes_in_domain)} of {number(dom.max_num_mboxes_for_domain)} mailboxes · "
        f"{quota_text(dom.quota_used_in_domain, dom.max_quota_for_domain)} allocated · "
        f"{size(dom.bytes_total)} stored"
    )
    return Reply(headline=headline, blocks=blocks, status="info" if dom.is_active else "warn")


# --- changes ----------------------------------------------------------------------------------------
#
# `domain add` and `edit` run at once for an operator, `delete` waits for an approver. Each plan names
# the `domain` state reader: its counts and limits as an approver weighs them (stored bytes are left
# out: they change with every message). `domain add` without arguments opens a form.

MIB = 1024 * 1024
DOMAIN_CREATE = "domain_create"
"""The create-domain form's callback_id."""
_TEMPLATE = {"mailboxes": 10, "aliases": 400, "quota": 10240, "maxquota": 10240, "defquota": 3072}
"""What mailcow's "Default" domain template gives a new domain (SERVER-FACTS §4.1), shown in the form."""
_QUOTAS = (
    ("defquota", "default mailbox quota"),
    ("maxquota", "maximum mailbox quota"),
    ("quota", "domain quota"),
)


@dataclass(frozen=True)
class DomainSettings:
    """What `domain add` and `edit` take; None is "not given" (add: mailcow's template value)."""

    description: str | None = None
    mailboxes: int | None = None
    aliases: int | None = None
    quota: int | None = None
    maxquota: int | None = None
    defquota: int | None = None
    active: bool | None = None

    def given(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def builder_args(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "mailboxes": self.mailboxes,
            "aliases": self.aliases,
            "quota_mib": self.quota,
            "max_quota_mib": self.maxquota,
            "default_quota_mib": self.defquota,
        }

    def describe(self) -> str:
        """What was given, for a summary: `mailboxes 50, domain quota 51,200 MiB, inactive`."""
        labels = {"mailboxes": "mailboxes", "aliases": "aliases", **dict(_QUOTAS)}
        parts = []
        for key, value in self.given().items():
            if isinstance(value, bool):
                parts.append(active(value))
            elif isinstance(value, int):
                parts.append(f"{labels[key]} {number(value)}{' MiB' if 'quota' in key else ''}")
            else:
                parts.append(f"description “{value}”")
        return ", ".join(parts)


def domain_settings(call: Call) -> DomainSettings:
    """The `key=value` settings of `domain add|edit`, each checked."""
    args = call.args

    def whole(key: str, what: str, minimum: int) -> int | None:
        raw = args.option(key)
        return (
            parsed(call, lambda v: valid_integer(v, what, minimum=minimum), raw) if raw is not None else None
        )

    state = args.option("active")
    return DomainSettings(
        description=args.option("description"),
        mailboxes=whole("mailboxes", "mailboxes (the most it may have)", 0),
        aliases=whole("aliases", "aliases (the most it may have)", 1),
        quota=whole("quota", "quota (MiB, the whole domain)", 1),
        maxquota=whole("maxquota", "maxquota (MiB, the most per mailbox)", 1),
        defquota=whole("defquota", "defquota (MiB, a new mailbox's default)", 1),
        active=parsed(call, lambda v: valid_flag(v, "active"), state) if state is not None else None,
    )


def quota_order(settings: DomainSettings, current: Domain | None = None) -> dict[str, str]:
    """mailcow wants default ≤ maximum per mailbox ≤ domain quota; problems by form field. Values not
    given count as they are now (`current`), or are not compared for a new domain (its template may
    differ from the default one)."""
    now = {
        "defquota": current.def_quota_for_mbox // MIB if current else None,
        "maxquota": current.max_quota_for_mbox // MIB if current else None,
        "quota": current.max_quota_for_domain // MIB if current else None,
    }
    value = {key: getattr(settings, key) or now[key] for key, _ in _QUOTAS}
    problems: dict[str, str] = {}
    for (low, low_name), (high, high_name) in itertools.pairwise(_QUOTAS):
        below, above = value[low], value[high]
        if below is not None and above is not None and below > above:
            problems[f"{low}_mb"] = (
                f"The {low_name} ({number(below)} MiB) cannot be above the {high_name} ({number(above)} MiB)."
            )
    return problems


def new_domain(call: Call, name: str, settings: DomainSettings) -> Plan:
    """The plan that adds `name` (fields of the form: domain_name, defquota_mb, maxquota_mb, quota_mb)."""
    try:
        name = valid_domain(name)
    except UsageError as error:
        raise Invalid({"domain_name": error.message}, usage=call.args.usage) from None
    problems = quota_order(settings)
    existing = call.mailcow.domain(name)
    if existing is not None:
        problems["domain_name"] = (
            f"{name} is already a domain on this mailcow."
            if existing.domain_name == name
            else f"{name} is already an alias domain of {existing.domain_name}."
        )
    if problems:
        raise Invalid(problems, usage=call.args.usage)
    api_call = calls.add_domain(name, active=settings.active is not False, **settings.builder_args())
    given = settings.describe()
    return plan_on(call, "domain", name, f"Add domain {name}{f' ({given})' if given else ''}", api_call)


@state_reader("domain")
def domain_state(client: MailcowClient, name: str) -> dict[str, str]:
    """What an approver weighs; an alias domain is not the domain itself, so it reads as absent."""
    dom = client.domain(name)
    if dom is None or dom.domain_name != name:
        return {"Domain": "does not exist"}
    return {
        "Domain": "exists",
        "Description": dom.description or "–",
        "State": active(dom.is_active),
        "Mailboxes": f"{number(dom.mboxes_in_domain)} of {number(dom.max_num_mboxes_for_domain)}",
        "Aliases": f"{number(dom.aliases_in_domain)} of {number(dom.max_num_aliases_for_domain)}",
        "Mailbox quota": f"default {number(dom.def_quota_for_mbox // MIB)} MiB, "
        f"at most {number(dom.max_quota_for_mbox // MIB)} MiB",
        "Domain quota": f"{number(dom.max_quota_for_domain // MIB)} MiB, "
        f"{number(dom.quota_used_in_domain // MIB)} MiB of it given to mailboxes",
    }


def _the_domain(call: Call, name: str) -> Domain:
    """The domain named `name` itself (not the target of an alias domain), or a usage error."""
    dom = call.mailcow.domain(name)
    if dom is None:
        raise call.args.error(
            f"there is no domain {code(name)} on this mailcow; {slash(call, 'domain list')} lists them."
        )
    if dom.domain_name != name:
        raise call.args.error(
            f"{code(name)} is an alias domain of {code(dom.domain_name)}; "
            f"name {code(dom.domain_name)} itself."
        )
    return dom


@command(
    "domain",
    "add",
    usage="domain add [DOMAIN] [description=…] [mailboxes=N] [aliases=N] [quota=MiB] [maxquota=MiB] "
    "[defquota=MiB] [active=yes|no]",
    summary="add a domain (limits left out come from mailcow's domain template); without arguments, a form",
    example='domain add example.com description="Example Inc" mailboxes=50 quota=51200',
    role=Role.OPERATOR,
)
def add_domain(call: Call) -> Plan | None:
    if not call.args.positional and not call.args.options:
        channel = call.origin.channel_id
        view = domain_form(channel)
        call.services.slack.views_open(
            trigger_id=trigger(call, "domain add DOMAIN mailboxes=N quota=MiB"), view=view
        )
        return None
    name = call.args.take("DOMAIN")
    settings = domain_settings(call)
    call.args.done()
    return new_domain(call, name, settings)


@command(
    "domain",
    "edit",
    usage="domain edit DOMAIN [description=…] [mailboxes=N] [aliases=N] [quota=MiB] [maxquota=MiB] "
    "[defquota=MiB] [active=yes|no]",
    summary="change a domain's description, limits, quotas or state",
    example="domain edit example.org mailboxes=100 quota=102400",
    role=Role.OPERATOR,
)
def edit_domain(call: Call) -> Plan:
    name = parsed(call, valid_domain, call.args.take("DOMAIN"))
    settings = domain_settings(call)
    call.args.done()
    if not settings.given():
        raise call.args.error("name at least one setting to change, e.g. `mailboxes=100`.")
    dom = _the_domain(call, name)
    problems = quota_order(settings, dom)
    if problems:
        raise Invalid(problems, usage=call.args.usage)
    api_call = calls.edit_domain(name, active=settings.active, **settings.builder_args())
    return plan_on(call, "domain", name, f"Change domain {name}: {settings.describe()}", api_call)


@command(
    "domain",
    "delete",
    usage='domain delete DOMAIN [reason="…"]',
    summary="delete a domain that has no mailboxes left, with its aliases, BCC maps and spam policies",
    example='domain delete old.example reason="moved to example.org"',
    destructive=True,
)
def delete_domain(call: Call) -> Plan:
    name = parsed(call, valid_domain, call.args.take("DOMAIN"))
    call.args.done()
    dom = _the_domain(call, name)
    if dom.mboxes_in_domain:
        raise ChatopsError(
            f"{code(name)} still has {plural(dom.mboxes_in_domain, 'mailbox', 'mailboxes')}, and mailcow "
            "refuses to delete a domain that has any. Delete them first "
            f"({slash(call, f'mailbox list {name}')}), then ask again. Nothing was requested."
        )
    summary = (
        f"Delete domain {name} with its {plural(dom.aliases_in_domain, 'alias', 'aliases')}, "
        "alias domains, BCC maps and spam policies"
    )
    return plan_on(call, "domain", name, summary, calls.delete_domains(name))


def domain_form(channel: str) -> View:
    """The create-domain form, filled in with what mailcow's default template would give."""
    blocks: list[Block] = [
        text_input("domain_name", "Domain", placeholder="example.com", max_length=253),
        text_input("description", "Description", optional=True, max_length=255),
        number_input("mailboxes", "Mailboxes, at most", initial=_TEMPLATE["mailboxes"]),
        number_input("aliases", "Aliases, at most", initial=_TEMPLATE["aliases"], minimum=1),
        number_input("quota_mb", "Domain quota (MiB)", initial=_TEMPLATE["quota"], minimum=1),
        number_input(
            "maxquota_mb", "Maximum quota of a mailbox (MiB)", initial=_TEMPLATE["maxquota"], minimum=1
        ),
        number_input(
            "defquota_mb", "Default quota of a new mailbox (MiB)", initial=_TEMPLATE["defquota"], minimum=1
        ),
        checkboxes_input("flags", "Options", [("active", "Active")], checked=["active"]),
    ]
    return modal(DOMAIN_CREATE, "Add a domain", blocks, submit="Add", metadata={"channel": channel})


def check_domain_form(services: Services, submission: Submission) -> Ready:
    name = submission.text("domain_name").lower()
    call = submission.call(services, "domain.add", f"domain add {name}")
    settings = DomainSettings(
        description=submission.text("description") or None,
        mailboxes=submission.number("mailboxes", "The mailbox limit"),
        aliases=submission.number("aliases", "The alias limit"),
        quota=submission.number("quota_mb", "The domain quota"),
        maxquota=submission.number("maxquota_mb", "The maximum mailbox quota"),
        defquota=submission.number("defquota_mb", "The default mailbox quota"),
        active="active" in submission.ticked("flags"),
    )
    return Ready(new_domain(call, name, settings), call.origin.command_text)


def register(app: App, services: Services) -> None:
    form(app, services, DOMAIN_CREATE, check_domain_form)
