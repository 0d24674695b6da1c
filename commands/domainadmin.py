"""`/mailcow domainadmin …`: who may administer which domains in mailcow's UI, and whether their
logins are protected by two-factor authentication."""

from __future__ import annotations

import re

from bot.mailcow import DomainAdmin
from bot.render import code, esc
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, active, not_found, record_reply, yes_no

describe_area(
    "domainadmin",
    "domain administrators: their domains, whether active, two-factor status",
    aliases=("domain-admin", "domain-admins", "domainadmins"),
)

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]+$")
"""What mailcow accepts as a domain admin's name (SERVER-FACTS §4.9)."""


def tfa_text(admin: DomainAdmin) -> str:
    forced = admin.attributes.get("force_tfa", "0") not in ("", "0")
    if admin.tfa_active:
        return "on"
    return "off, but required at next login" if forced else "off"


def domains_text(admin: DomainAdmin) -> str:
    return ", ".join(esc(d) for d in admin.selected_domains) or "_none_"


def admin_line(admin: DomainAdmin) -> str:
    count = len(admin.selected_domains)
    return (
        f"{code(admin.username)} · {active(admin.active)} · 2FA {tfa_text(admin)} · "
        f"{count} domain{'s' if count != 1 else ''}: {domains_text(admin)}"
    )


ADMINS: Table[DomainAdmin] = Table(
    plural="Domain admins",
    line=admin_line,
    columns=("username", "active", "tfa_active", "force_tfa", "force_pw_update", "domains", "created"),
    cells=lambda a: (
        a.username,
        a.active,
        int(a.tfa_active),
        a.attributes.get("force_tfa", ""),
        a.attributes.get("force_pw_update", ""),
        " ".join(a.selected_domains),
        a.created,
    ),
    filename="domain-admins.csv",
)


@command(
    "domainadmin",
    "list",
    usage="domainadmin list",
    summary="every domain admin with their domains, state and two-factor status",
    example="domainadmin list",
    default=True,
)
def list_admins(call: Call) -> Reply:
    call.args.done()
    admins = call.mailcow.domain_admins()
    without_tfa = sum(1 for a in admins if a.active and not a.tfa_active)
    note = (
        f"{without_tfa} active admin{'s' if without_tfa != 1 else ''} without two-factor."
        if without_tfa
        else ""
    )
    return ADMINS.reply(admins, notes=(note,))


@command(
    "domainadmin",
    "show",
    usage="domainadmin show USER",
    summary="one domain admin: domains, state, two-factor, forced password change",
    example="domainadmin show helpdesk-example",
)
def show_admin(call: Call) -> Reply:
    username = call.args.take("the domain admin's username")
    call.args.done()
    if not _USERNAME.match(username):
        raise call.args.error(
            f"`{username}` is not a domain admin username; expected letters, digits, `.`, `_` or `-`."
        )
    admin = next((a for a in call.mailcow.domain_admins() if a.username.lower() == username.lower()), None)
    if admin is None:
        return not_found(call, f"domain admin {code(username)}", "domainadmin list")
    forced_password = admin.attributes.get("force_pw_update", "0") not in ("", "0")
    return record_reply(
        f"Domain admin {code(admin.username)}: {active(admin.active)}, 2FA {tfa_text(admin)}",
        [
            ("State", active(admin.active)),
            ("Two-factor", tfa_text(admin)),
            ("Must change password", yes_no(forced_password)),
            ("Created", esc(admin.created or "?")),
            (f"Domains ({len(admin.selected_domains)})", domains_text(admin)),
        ],
    )
