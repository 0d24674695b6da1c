"""`/mailcow alias …`: where mail for an address really goes.

mailcow encodes special destinations as fake addresses in `goto` (SERVER-FACTS §4.3):
`null@localhost` silently discards, `spam@localhost` / `ham@localhost` feed the spam filter's
learning. An address of `@domain` is a catch-all. Shown as raw addresses they look like typos, so
they are spelled out in words; the CSV keeps the raw values. The changes (`alias add`, `edit`,
`delete`, the create-alias form) follow the list.
"""

from __future__ import annotations

import re

from slack_bolt import App
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.args import UsageError
from bot.args import address as valid_address
from bot.args import domain as valid_domain
from bot.args import flag as valid_flag
from bot.mailcow import Alias, MailcowClient, calls
from bot.mailcow.calls import SpecialGoto
from bot.plans import Plan, state_reader
from bot.render import Listing, code, context, esc, freshness, number
from bot.reply import Reply
from bot.roles import Role
from bot.services import Services
from commands import Call, command, describe_area
from commands._modals import Invalid, Ready, Submission, checkboxes_input, form, modal, text_input, trigger
from commands._tables import parsed, plural, slash
from commands._writes import built, plan_on
from commands.domain import empty_in_domain, optional_domain

describe_area(
    "alias",
    "aliases and catch-alls: which address delivers where",
    aliases=("aliases",),
)

SPECIAL_GOTOS = {
    "null@localhost": "*discard* (silently dropped)",
    "spam@localhost": "*learn as spam*",
    "ham@localhost": "*learn as ham*",
}
SHOWN_GOTOS = 5


def goto_text(gotos: list[str], shown: int = SHOWN_GOTOS) -> str:
    """Destinations for people: special ones in words, the rest as addresses, long lists cut."""
    words = [SPECIAL_GOTOS.get(g.lower(), code(g)) for g in gotos[:shown]]
    more = f" and {number(len(gotos) - shown)} more" if len(gotos) > shown else ""
    return (", ".join(words) or "nowhere") + more


def _flags(alias: Alias) -> list[str]:
    flags = []
    if alias.is_catch_all:
        flags.append("catch-all")
    if alias.active != 1:
        flags.append(":no_entry: *inactive*")
    if alias.internal:
        flags.append("internal only")
    if not alias.sogo_visible:
        flags.append("hidden in SOGo")
    return flags


def _alias_line(alias: Alias) -> str:
    flags = _flags(alias)
    comment = f"\n      _{esc(alias.public_comment)}_" if alias.public_comment else ""
    return (
        f"{code(alias.address)} → {goto_text(alias.gotos())}"
        f"{' · ' + ' · '.join(flags) if flags else ''}{comment}"
    )


def _alias_cells(alias: Alias) -> tuple[object, ...]:
    return (
        alias.id,
        alias.address,
        ";".join(alias.gotos()),
        alias.active,
        int(alias.is_catch_all),
        int(alias.internal),
        int(alias.sogo_visible),
        alias.public_comment,
        alias.private_comment,
    )


@command(
    "alias",
    "list",
    usage="alias list [DOMAIN]",
    summary="aliases with their destinations (catch-all, discard and spam learning in words)",
    example="alias list example.org",
)
def list_aliases(call: Call) -> Reply:
    wanted = optional_domain(call)
    call.args.done()
    aliases = sorted(call.mailcow.aliases(wanted), key=lambda a: (a.domain, a.address.lstrip("@")))
    if not aliases:
        return empty_in_domain(
            call,
            wanted,
            "aliases",
            "mailcow does not list a mailbox's own address as an alias, so a domain with only mailboxes "
            "has none.",
        )
    inactive = sum(1 for a in aliases if a.active != 1)
    catch_alls = sum(1 for a in aliases if a.is_catch_all)
    discarding = sum(1 for a in aliases if "null@localhost" in (g.lower() for g in a.gotos()))
    extras = [
        f"{number(n)} {label}"
        for n, label in ((inactive, "inactive"), (catch_alls, "catch-all"), (discarding, "discarding"))
        if n
    ]
    where = f" in {code(wanted)}" if wanted else ""
    headline = (
        f"*{plural(len(aliases), 'alias', 'aliases')}*{where}{' — ' + ' · '.join(extras) if extras else ''}"
    )
    blocks: list[Block] = [
        context(
            freshness(call.mailcow.age("aliases")),
            f"{slash(call, 'mailbox show ADDRESS')} lists the aliases that deliver to a mailbox.",
        )
    ]
    listing = Listing(
        title=f"Aliases{f' in {wanted}' if wanted else ''}",
        rows=aliases,
        line=_alias_line,
        csv_columns=(
            "id",
            "address",
            "goto",
            "active",
            "catch_all",
            "internal",
            "sogo_visible",
            "public_comment",
            "private_comment",
        ),
        csv_row=_alias_cells,
        filename=f"aliases{f'-{wanted}' if wanted else ''}.csv",
    )
    return Reply(headline=headline, blocks=blocks, listing=listing)


# --- changes ----------------------------------------------------------------------------------------
#
# `alias add` and `edit` run at once for an operator, `delete` waits for an approver. The plans target
# `alias:ADDRESS` and name the `alias` state reader. mailcow creates an alias *inactive* unless told
# otherwise (SERVER-FACTS §0.9), so `active` is always sent; and it resets the discard/spam/ham flags
# to 0 on every edit (§4.3), so an edit of such an alias sends its flag again.

ALIAS_CREATE = "alias_create"
"""The create-alias form's callback_id."""
SPECIAL_WORDS: dict[str, SpecialGoto] = {"discard": "discard", "spam": "spam", "ham": "ham"}
_SPECIAL_OF_GOTO: dict[str, SpecialGoto] = {
    "null@localhost": "discard",
    "spam@localhost": "spam",
    "ham@localhost": "ham",
}
_SPECIAL_SUMMARY: dict[SpecialGoto, str] = {
    "discard": "discard",
    "spam": "learn as spam",
    "ham": "learn as ham",
}
SHOWN_IN_STATE = 20


def alias_address(value: str) -> str:
    """`name@example.org`, or `@example.org` for a catch-all."""
    text = value.strip()
    return "@" + valid_domain(text[1:]) if text.startswith("@") else valid_address(text, "alias address")


def destinations(text: str) -> tuple[list[str], SpecialGoto | None]:
    """Addresses separated by commas, spaces or lines, or one of the words discard, spam, ham."""
    items = [item for item in re.split(r"[\s,;]+", text.strip()) if item]
    if len(items) == 1 and items[0].lower() in SPECIAL_WORDS:
        return [], SPECIAL_WORDS[items[0].lower()]
    if not items:
        raise UsageError("Name where the mail goes: addresses, or discard, spam or ham.")
    return [valid_address(item, "destination") for item in items], None


def goto_summary(gotos: list[str], special: SpecialGoto | None) -> str:
    """Where an alias delivers, in a summary's plain words."""
    return _SPECIAL_SUMMARY[special] if special else ", ".join(gotos)


def special_of(alias: Alias) -> SpecialGoto | None:
    return _SPECIAL_OF_GOTO.get(alias.goto.strip().lower())


@state_reader("alias")
def alias_state(client: MailcowClient, key: str) -> dict[str, str]:
    alias = client.alias(key)
    if alias is None:
        return {"Alias": "does not exist"}
    gotos = alias.gotos()
    more = f" and {len(gotos) - SHOWN_IN_STATE} more" if len(gotos) > SHOWN_IN_STATE else ""
    return {
        "Alias": "exists",
        "ID": str(alias.id),
        "Delivers to": ", ".join(gotos[:SHOWN_IN_STATE]) + more or "nowhere",
        "State": "active" if alias.active == 1 else "inactive",
        "Comment": alias.public_comment or "–",
    }


def new_alias(call: Call, address: str, goto: str, *, active: bool = True) -> Plan:
    """The plan that adds the alias, or `Invalid` by field of the form (address, goto)."""
    problems: dict[str, str] = {}
    try:
        address = alias_address(address)
    except UsageError as error:
        problems["address"] = error.message
    try:
        gotos, special = destinations(goto)
    except UsageError as error:
        problems["goto"] = error.message
        gotos, special = [], None
    if address in gotos:
        problems["goto"] = f"{address} cannot deliver to itself (mailcow would skip it without a word)."
    if "address" not in problems:
        problem = _unavailable(call.mailcow, address)
        if problem:
            problems["address"] = problem
    if problems:
        raise Invalid(problems, usage=call.args.usage)
    api_call = built(call, lambda: calls.add_alias(address, gotos or None, special=special, active=active))
    summary = f"Add alias {address} → {goto_summary(gotos, special)}{'' if active else ' (inactive)'}"
    return plan_on(call, "alias", address, summary, api_call)


def _unavailable(client: MailcowClient, address: str) -> str | None:
    """Why `address` cannot become an alias: its domain is missing or full, or the address is taken."""
    domain = address.rpartition("@")[2]
    dom = client.domain(domain)
    if dom is None:
        return f"There is no domain {domain} on this mailcow."
    if dom.aliases_left <= 0:
        return f"{domain} is full: {plural(dom.aliases_in_domain, 'alias', 'aliases')}, its limit."
    if client.alias(address) is not None:
        return f"{address} is already an alias."
    if not address.startswith("@") and client.mailbox(address) is not None:
        return f"{address} is already a mailbox."
    return None


def _the_alias(call: Call, key: str) -> Alias:
    alias = call.mailcow.alias(key)
    if alias is None:
        raise call.args.error(f"there is no alias {code(key)}; {slash(call, 'alias list')} lists them.")
    return alias


@command(
    "alias",
    "add",
    usage="alias add [ADDRESS goto=X[,Y]|discard|spam|ham] [active=yes|no]",
    summary="add an alias or a catch-all (@domain) delivering to the given addresses; no arguments: a form",
    example="alias add sales@example.org goto=alice@example.org,bob@example.org",
    role=Role.OPERATOR,
)
def add_alias(call: Call) -> Plan | None:
    args = call.args
    if not args.positional and not args.options:
        view = alias_form(call.origin.channel_id)
        call.services.slack.views_open(trigger_id=trigger(call, "alias add ADDRESS goto=X,Y"), view=view)
        return None
    address = args.take("ADDRESS")
    goto = args.option("goto")
    active = args.option("active")
    args.done()
    if goto is None:
        raise args.error("say where the mail goes: `goto=alice@example.org,bob@example.org` (or discard).")
    enabled = parsed(call, lambda v: valid_flag(v, "active"), active) if active is not None else True
    return new_alias(call, address, goto, active=enabled)


@command(
    "alias",
    "edit",
    usage="alias edit ADDRESS|ID [goto=X[,Y]|discard|spam|ham] [active=yes|no] [comment=…]",
    summary="change where an alias delivers, whether it is active, its comment",
    example="alias edit sales@example.org goto=carol@example.org active=yes",
    role=Role.OPERATOR,
)
def edit_alias(call: Call) -> Plan:
    args = call.args
    key = args.take("ADDRESS or ID")
    goto, active, comment = args.option("goto"), args.option("active"), args.option("comment")
    args.done()
    if goto is None and active is None and comment is None:
        raise args.error("name something to change: `goto=…`, `active=yes|no` or `comment=…`.")
    alias = _the_alias(call, key)
    gotos, special = parsed(call, destinations, goto) if goto is not None else ([], special_of(alias))
    enabled = parsed(call, lambda v: valid_flag(v, "active"), active) if active is not None else None
    if alias.address in gotos:
        raise args.error(f"{code(alias.address)} cannot deliver to itself.")
    changes = []
    if goto is not None:
        changes.append(f"to {goto_summary(gotos, special)}")
    if enabled is not None:
        changes.append("active" if enabled else "inactive")
    if comment is not None:
        changes.append(f"comment “{comment}”")
    api_call = built(
        call,
        lambda: calls.edit_alias(
            alias.id, goto=gotos or None, special=special, active=enabled, public_comment=comment
        ),
    )
    return plan_on(
        call, "alias", alias.address, f"Change alias {alias.address}: {', '.join(changes)}", api_call
    )


@command(
    "alias",
    "delete",
    usage='alias delete ADDRESS|ID [reason="…"]',
    summary="delete an alias: mail to it is refused from then on (unless a catch-all takes it)",
    example="alias delete sales@example.org",
    destructive=True,
)
def delete_alias(call: Call) -> Plan:
    key = call.args.take("ADDRESS or ID")
    call.args.done()
    alias = _the_alias(call, key)
    summary = f"Delete alias {alias.address} (to {goto_summary(alias.gotos()[:5], special_of(alias))})"
    return plan_on(call, "alias", alias.address, summary, calls.delete_aliases(alias.id))


def alias_form(channel: str) -> View:
    blocks: list[Block] = [
        text_input(
            "address",
            "Alias address",
            placeholder="sales@example.org",
            hint="@example.org alone makes a catch-all: mail to any unknown address of the domain.",
            max_length=255,
        ),
        text_input(
            "goto",
            "Delivers to",
            multiline=True,
            placeholder="alice@example.org, bob@example.org",
            hint="Addresses separated by commas or lines. Or one word: discard, spam (learn as spam), ham.",
        ),
        checkboxes_input("flags", "Options", [("active", "Active")], checked=["active"]),
    ]
    return modal(ALIAS_CREATE, "Add an alias", blocks, submit="Add", metadata={"channel": channel})


def check_alias_form(services: Services, submission: Submission) -> Ready:
    address = submission.text("address")
    call = submission.call(services, "alias.add", f"alias add {address}")
    plan = new_alias(call, address, submission.text("goto"), active="active" in submission.ticked("flags"))
    return Ready(plan, call.origin.command_text)


def register(app: App, services: Services) -> None:
    form(app, services, ALIAS_CREATE, check_alias_form)
