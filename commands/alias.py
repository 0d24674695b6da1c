"""`/mailcow alias …`: where mail for an address really goes.

mailcow encodes special destinations as fake addresses in `goto` (SERVER-FACTS §4.3):
`null@localhost` silently discards, `spam@localhost` / `ham@localhost` feed the spam filter's
learning. An address of `@domain` is a catch-all. Shown as raw addresses they look like typos, so
they are spelled out in words; the CSV keeps the raw values.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.mailcow import Alias
from bot.render import Listing, code, context, esc, freshness, number
from bot.reply import Reply
from commands import Call, command, describe_area
from commands.domain import empty_in_domain, optional_domain, plural, slash

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
