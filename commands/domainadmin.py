"""`/mailcow domainadmin …`: who may administer which domains in mailcow's UI, and whether their
logins are protected by two-factor authentication.

`domainadmin add` runs at once for an operator. The new admin's password is generated when it runs
and shown once, only to the person who asked; `domainadmin delete` needs an approval.
"""

from __future__ import annotations

import re

from bot.args import domain as valid_domain
from bot.args import flag
from bot.mailcow import DomainAdmin, calls
from bot.plans import GENERATED, Outcome, Plan, RuntimeSecret, needs_approval
from bot.render import code, context, esc, section
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, active, not_found, parsed, plural, record_reply, yes_no
from commands._writes import Entries, built, keyed, one, run_for_requester

describe_area(
    "domainadmin",
    "domain administrators: their domains, whether active, two-factor status",
    aliases=("domain-admin", "domain-admins", "domainadmins"),
)

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]+$")
"""What mailcow accepts as a domain admin's name (SERVER-FACTS §4.9)."""


def _username(call: Call) -> str:
    username = call.args.take("the domain admin's username")
    if not _USERNAME.match(username):
        raise call.args.error(
            f"`{username}` is not a domain admin username; expected letters, digits, `.`, `_` or `-`."
        )
    return username


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
        f"{plural(count, 'domain')}: {domains_text(admin)}"
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
    note = f"{plural(without_tfa, 'active admin')} without two-factor." if without_tfa else ""
    return ADMINS.reply(admins, notes=(note,))


@command(
    "domainadmin",
    "show",
    usage="domainadmin show USER",
    summary="one domain admin: domains, state, two-factor, forced password change",
    example="domainadmin show helpdesk-example",
)
def show_admin(call: Call) -> Reply:
    username = _username(call)
    call.args.done()
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


# --- writes --------------------------------------------------------------------------------------

PASSWORD_FIELDS = ["password", "password2"]

TARGETS: Entries[DomainAdmin] = Entries(
    area="domainadmin",
    noun="domain admin",
    list_usage="domainadmin list",
    find=keyed(lambda client: client.domain_admins(), lambda a: (a.username,)),
    facts=one(
        lambda a: {
            "state": active(a.active),
            "domains": ", ".join(a.selected_domains) or "none",
            "two-factor": tfa_text(a),
        }
    ),
    title=lambda a: f"{a.username} (domains: {', '.join(a.selected_domains) or 'none'})",
)


def _domains(call: Call, raw: str | None) -> list[str]:
    """The `domains=` list, each a domain this mailcow has (mailcow would skip unknown ones silently)."""
    if not raw:
        raise call.args.error(
            "`domains=` is missing: the domains they may administer, like `domains=a.org,b.org`."
        )
    names = list(dict.fromkeys(parsed(call, valid_domain, d) for d in raw.split(",") if d.strip()))
    known = {d.domain_name for d in call.mailcow.domains()}
    unknown = [d for d in names if d not in known]
    if unknown:
        raise call.args.error(f"not a domain on this mailcow: {', '.join(map(code, unknown))}.")
    return names


@command(
    "domainadmin",
    "add",
    usage="domainadmin add USER domains=DOMAIN[,DOMAIN…] [active=yes|no]",
    summary="create a domain admin for some domains; their password is shown once, only to you",
    example="domainadmin add helpdesk-example domains=example.org,example.net",
    role=Role.OPERATOR,
)
def add_admin(call: Call) -> Plan | None:
    username = _username(call)
    domains = _domains(call, call.args.option("domains"))
    enabled = parsed(call, lambda v: flag(v, "`active`"), call.args.option("active") or "yes")
    call.args.done()
    api_call = built(call, lambda: calls.add_domain_admin(username, GENERATED, domains, active=enabled))
    plan = TARGETS.plan(
        call,
        username,
        f"Add domain admin {username} for {', '.join(domains)}"
        + ("" if enabled else " (inactive: they cannot sign in yet)"),
        api_call,
        fill_at_run=[RuntimeSecret(call=0, fields=PASSWORD_FIELDS)],
    )

    def password(outcome: Outcome) -> Reply:
        return Reply(
            headline=f"Password for domain admin {code(username)}: shown once, only to you",
            blocks=[
                section(code(outcome.secrets["password"])),
                context(
                    f"They sign in to mailcow's UI at {esc(call.services.settings.mailcow_url)}. "
                    "Pass it on privately: the bot keeps no copy."
                ),
            ],
        )

    if needs_approval(plan, call.services.settings):
        return plan  # once approved, the generated password goes to the requester in a direct message
    run_for_requester(call, plan, password)
    return None


@command(
    "domainadmin",
    "delete",
    usage='domainadmin delete USER [reason="…"]',
    summary="delete a domain admin: they can no longer sign in to mailcow's UI",
    example="domainadmin delete helpdesk-example",
    destructive=True,
)
def delete_admin(call: Call) -> Plan:
    username = _username(call)
    call.args.done()
    consequence = ": they can no longer sign in to mailcow's UI"
    return TARGETS.delete(call, username, calls.delete_domain_admins, consequence)
