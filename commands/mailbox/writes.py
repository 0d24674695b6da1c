"""`/mailcow mailbox create|edit|password|delete`: every change to a mailbox is a plan on `mailbox:ADDR`.

`create` and `edit` run at once for an operator; `password` and `delete` wait for an approver. Typed
without their arguments, `create`, `edit` and `password` open a form (see `forms.py`); the forms and
the typed commands share the checks and plan builders here, so both refuse the same input in the
same words (`Invalid`: next to the field in a form, a usage error in a command).

Every plan names the `mailbox` state reader: what the approver decides on (whether it exists, its
name, state, quota, authentication, protocols, password change, last login day, the aliases that
deliver to it), checked again before the run and read back after it. Usage (bytes, messages) goes
in the summary instead: it changes with every message delivered, and a request on a live mailbox
must not look "changed" just because mail arrived before someone approved.

Passwords: a generated one is made when the plan runs and shown once, only to the requester. One
typed into a form goes straight into a plan that runs at once; a plan that waits for an approval
holds it only sealed with CHATOPS_SECRET_KEY, and without that key a typed password is refused
there (leave it empty and one is generated), because a password must never wait in plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from slack_sdk.models.views import View

from bot import logs
from bot.args import LOCAL_PART_RE, UsageError
from bot.args import address as valid_address
from bot.args import flag as valid_flag
from bot.args import integer as valid_integer
from bot.mailcow import ApiCall, Domain, Mailbox, MailcowClient, calls
from bot.mailcow.models import PasswordPolicy
from bot.plans import (
    GENERATED,
    Outcome,
    Plan,
    RuntimeSecret,
    can_seal,
    needs_approval,
    seal,
    state_reader,
)
from bot.render import ago, code, context, number, size, utc
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command
from commands._modals import Invalid, open_form, trigger
from commands._tables import parsed, plural, slash
from commands._writes import built, plan_on, run_for_requester
from commands.domain import MIB
from commands.mailbox import views
from commands.mailbox.reads import _PROTOCOLS, ACTIVE_STATES, _flag, _state_text

PASSWORD_FIELDS = ["password", "password2"]
SHOWN_ALIASES = 10
UNLIMITED = 10**9
"""MiB that stand for "no limit" (mailcow's 0) in quota comparisons."""
NO_KEY = (
    "This bot has no CHATOPS_SECRET_KEY, so a typed password could not wait safely for the approval. "
    "Leave it empty: a strong one is generated when the approved change runs."
)
_SIGN_IN = {"ldap": "LDAP", "keycloak": "Keycloak", "generic-oidc": "an OIDC identity provider"}
_ACTIVE_WORDS: dict[str, Literal[0, 1, 2]] = {
    "yes": 1,
    "active": 1,
    "1": 1,
    "no": 0,
    "inactive": 0,
    "0": 0,
    "login-disabled": 2,
    "receive-only": 2,
    "2": 2,
}


# --- the state an approver decides on --------------------------------------------------------------


@state_reader("mailbox")
def mailbox_state(client: MailcowClient, address: str) -> dict[str, str]:
    box = client.mailbox(address)
    if box is None:
        return {"Mailbox": "does not exist"}
    delivering = sorted(
        a.address for a in client.aliases(fresh=True) if address in (g.lower() for g in a.gotos())
    )
    more = f" and {len(delivering) - SHOWN_ALIASES} more" if len(delivering) > SHOWN_ALIASES else ""
    return {
        "Mailbox": "exists",
        "Name": box.name or "–",
        "State": _state_text(box.active),
        "Quota": f"{number(box.quota_mib)} MiB" if box.quota else "unlimited",
        "Authentication": box.authsource,
        "Protocols": ", ".join(label for key, label in _PROTOCOLS if _flag(box, key)) or "none",
        "Must change password": "yes" if _flag(box, "force_pw_update") else "no",
        "Password changed": box.attributes.get("passwd_update") or "unknown",
        "Last login": utc(box.last_login)[:10] if box.last_login else "never",
        "Aliases delivering here": ", ".join(delivering[:SHOWN_ALIASES]) + more or "none",
    }


def usage_text(box: Mailbox) -> str:
    """What is in it now, for summaries (not the state: it changes with every delivery)."""
    return f"{size(box.quota_used)} in {number(box.messages)} messages, last login {ago(box.last_login)}"


# --- shared checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Room:
    """How much quota (MiB) a domain offers a mailbox: its default, its per-mailbox maximum, what is left."""

    domain: str
    default: int
    maximum: int
    left: int

    @classmethod
    def of(cls, dom: Domain, current_mib: int = 0) -> Room:
        """`current_mib`: the quota the mailbox being edited holds now, which it gives back."""
        total = dom.max_quota_for_domain // MIB
        left = total - dom.quota_used_in_domain // MIB + current_mib if total else UNLIMITED
        return cls(
            domain=dom.domain_name,
            default=min(dom.def_quota_for_mbox // MIB, left),
            maximum=dom.max_quota_for_mbox // MIB or UNLIMITED,
            left=left,
        )

    def problem(self, quota: int) -> str | None:
        wanted = f"{number(quota)} MiB"
        if quota > self.maximum:
            return f"{wanted} is above {self.domain}'s maximum of {number(self.maximum)} MiB a mailbox."
        if quota > self.left:
            return f"Only {number(self.left)} MiB of {self.domain}'s quota is left, less than {wanted}."
        return None

    def hint(self) -> str:
        return (
            f"{self.domain}: default {number(self.default)} MiB, at most {number(self.maximum)} MiB a "
            f"mailbox, {number(self.left)} MiB of the domain's quota left."
        )


def weak_password(policy: PasswordPolicy, password: str) -> str | None:
    """What mailcow's password policy (`get/passwordpolicy`) would find missing, in words."""
    needs = [
        need
        for need, missing in (
            (f"at least {policy.length} characters", len(password) < policy.length),
            ("a letter", policy.chars and not re.search(r"[A-Za-z]", password)),
            (
                "lower- and upper-case letters",
                policy.lowerupper and not (re.search(r"[a-z]", password) and re.search(r"[A-Z]", password)),
            ),
            ("a digit", policy.numbers and not re.search(r"[0-9]", password)),
            ("a special character", policy.special_chars and not re.search(r"[^A-Za-z0-9]", password)),
        )
        if missing
    ]
    return f"Too weak for this mailcow's password policy: it needs {', '.join(needs)}." if needs else None


def with_password(
    call: Call,
    password: str,
    build: Callable[[str], ApiCall],
    *,
    summary: str,
    address: str,
) -> Plan:
    """A one-call plan on `address` whose call sets a password: generated at run time when `password`
    is empty, else the typed one, straight in when the plan runs now, sealed when it waits."""
    slot = RuntimeSecret(call=0, fields=PASSWORD_FIELDS)
    draft = plan_on(call, "mailbox", address, summary, build(GENERATED), fill_at_run=[slot])
    if not password:
        return draft
    logs.register_secret(password)
    settings = call.services.settings
    if not needs_approval(draft, settings):
        return draft.model_copy(update={"calls": [build(password)], "fill_at_run": []})
    if not can_seal(settings):
        raise Invalid({"password": NO_KEY}, usage=call.args.usage)
    sealed = slot.model_copy(update={"sealed": seal(settings, password)})
    return draft.model_copy(update={"fill_at_run": [sealed]})


def password_problem(call: Call, password: str) -> str | None:
    """What is wrong with a typed password (nothing, when it is left empty to be generated)."""
    return weak_password(call.mailcow.password_policy(), password) if password else None


def existing(call: Call, address: str, field: str = "mailbox") -> Mailbox:
    box = call.mailcow.mailbox(address)
    if box is None:
        raise Invalid({field: f"There is no mailbox {address}."}, usage=call.args.usage)
    return box


def domain_room(call: Call, name: str, field: str, current_mib: int = 0) -> Room:
    dom = call.mailcow.domain(name)
    if dom is None:
        raise Invalid({field: f"There is no domain {name} on this mailcow."}, usage=call.args.usage)
    return Room.of(dom, current_mib)


# --- create ---------------------------------------------------------------------------------------


def new_mailbox(
    call: Call,
    local: str,
    domain: str,
    *,
    name: str = "",
    quota: int | None = None,
    password: str = "",
    active: bool = True,
    force_pw_update: bool = False,
) -> Plan:
    """The plan that creates `local@domain`, or `Invalid` for every field that is wrong (the fields
    are the create form's: local_part, domain, quota_mb, password)."""
    problems: dict[str, str] = {}
    local = local.strip().lower()
    address = f"{local}@{domain}"
    if "@" in local:
        problems["local_part"] = "Type only the part before the @; the domain is chosen separately."
    elif not LOCAL_PART_RE.match(local) or len(local) > 64:
        problems["local_part"] = (
            f"{local or 'An empty name'} cannot be the part before the @: use letters, digits and . _ - +, "
            "at most 64 characters."
        )
    dom = call.mailcow.domain(domain)
    if dom is None:
        problems["domain"] = f"There is no domain {domain} on this mailcow."
    elif dom.domain_name != domain:
        problems["domain"] = (
            f"{domain} is an alias domain of {dom.domain_name}: create it in {dom.domain_name}."
        )
    else:
        if dom.mboxes_left <= 0:
            problems["domain"] = (
                f"{domain} is full: {plural(dom.mboxes_in_domain, 'mailbox', 'mailboxes')}, its limit. "
                f"Raise it first (domain edit {domain} mailboxes=N)."
            )
        room = Room.of(dom)
        quota = room.default if quota is None else quota
        problem = room.problem(quota) if quota > 0 else "The quota is at least 1 MiB."
        if problem:
            problems["quota_mb"] = problem
        if "local_part" not in problems:
            taken = _taken(call.mailcow, address)
            if taken:
                problems["local_part"] = taken
    problem = password_problem(call, password)
    if problem:
        problems["password"] = problem
    if problems or quota is None:
        raise Invalid(problems, usage=call.args.usage)
    return with_password(
        call,
        password,
        lambda secret: calls.add_mailbox(
            address,
            password=secret,
            quota_mib=quota,
            name=name,
            active=1 if active else 0,
            force_pw_update=force_pw_update,
        ),
        summary=f"Create mailbox {address}{f' ({name})' if name else ''} with {number(quota)} MiB",
        address=address,
    )


def _taken(client: MailcowClient, address: str) -> str | None:
    if client.mailbox(address) is not None:
        return f"{address} is already a mailbox."
    alias = client.alias(address)
    if alias is not None:
        return f"{address} is already an alias (to {', '.join(alias.gotos()[:3]) or 'nowhere'})."
    return None


def create_now(call: Call, plan: Plan) -> Plan | None:
    """A generated password is shown to the requester alone, right after the run; anything else (a
    typed password, or a plan that waits for an approval) goes the usual way."""
    generated = any(slot.sealed is None for slot in plan.fill_at_run)
    if generated and not needs_approval(plan, call.services.settings):
        run_for_requester(call, plan, new_password)
        return None
    return plan


def new_password(outcome: Outcome) -> Reply:
    """The one message that shows a generated password: ephemeral, to the requester."""
    address = outcome.plan.calls[0].target
    return Reply(
        headline=f":key: The password of {code(address)} is {code(outcome.secrets['password'])}",
        blocks=[context("Shown once, only to you: it is kept nowhere. Hand it over safely.")],
    )


@command(
    "mailbox",
    "create",
    usage="mailbox create [ADDRESS] [name=…] [quota=MiB]",
    summary="create a mailbox with a generated password shown only to you; without arguments, a form",
    example='mailbox create jane@example.org name="Jane Doe" quota=2048',
    role=Role.OPERATOR,
)
def create_mailbox(call: Call) -> Plan | None:
    args = call.args
    if not args.positional and not args.options:
        services = call.services
        channel = call.origin.channel_id
        open_form(
            services,
            trigger(call, "mailbox create ADDRESS name=… quota=MiB"),
            views.CREATE_TITLE,
            call.mailcow.domains,
            lambda domains: create_form(domains, channel=channel, channels=[]),
        )
        return None
    address = parsed(call, valid_address, args.take("ADDRESS"))
    _refuse_typed_password(call)
    name = args.option("name") or ""
    quota = args.option("quota")
    args.done()
    local, _, domain = address.partition("@")
    quota_mib = parsed(call, lambda v: valid_integer(v, "quota (MiB)", minimum=1), quota) if quota else None
    return create_now(call, new_mailbox(call, local, domain, name=name, quota=quota_mib))


def create_form(
    domains: Sequence[Domain], *, channel: str | None, channels: Sequence[str], chosen: str | None = None
) -> View:
    """The create form with the quota default and limits of the chosen domain (the only one, if so)."""
    if chosen is None and len(domains) == 1:
        chosen = domains[0].domain_name
    dom = next((d for d in domains if d.domain_name == chosen), None)
    room = Room.of(dom) if dom is not None else None
    return views.create_view(
        domains,
        channel=channel,
        channels=channels,
        chosen=chosen,
        quota=room.default if room else None,
        quota_hint=room.hint() if room else None,
    )


def _refuse_typed_password(call: Call) -> None:
    if call.args.option("password") is not None:
        raise call.args.error(
            "never type a password into a command: Slack keeps what you type. "
            f"Use the form ({slash(call, 'mailbox create')} or {slash(call, 'mailbox password ADDRESS')})."
        )


# --- edit -------------------------------------------------------------------------------------------


def active_value(word: str) -> Literal[0, 1, 2]:
    value = _ACTIVE_WORDS.get(word.strip().lower())
    if value is None:
        raise UsageError(f"active must be yes, no or login-disabled, not `{word}`.")
    return value


def changes_plan(
    call: Call,
    box: Mailbox,
    *,
    name: str | None = None,
    quota: int | None = None,
    active: Literal[0, 1, 2] | None = None,
    force_pw_update: bool | None = None,
    protocols: list[str] | None = None,
) -> Plan:
    """The plan that changes what differs from `box` now (fields: name, quota_mb, active)."""
    changes: list[str] = []
    name = name if name is not None and name != box.name else None
    quota = quota if quota is not None and quota != box.quota_mib else None
    active = active if active is not None and active != box.active else None
    if name is not None:
        changes.append(f"name → {name or '(none)'}")
    if quota is not None:
        if quota < 1:
            raise Invalid({"quota_mb": "The quota is at least 1 MiB."}, usage=call.args.usage)
        room = domain_room(call, box.domain, "quota_mb", current_mib=box.quota_mib)
        problem = room.problem(quota)
        if problem:
            raise Invalid({"quota_mb": problem}, usage=call.args.usage)
        changes.append(f"quota {number(box.quota_mib)} → {number(quota)} MiB")
    if active is not None:
        changes.append(f"{_state_text(box.active)} → {ACTIVE_STATES[active]}")
    if force_pw_update is not None:
        if box.authsource != "mailcow":
            raise Invalid({"force_pw_update": _external(box)}, usage=call.args.usage)
        changes.append(f"must change password → {'yes' if force_pw_update else 'no'}")
    if protocols is not None:
        changes.append(f"protocols → {', '.join(protocols) or 'none'}")
    if not changes:
        raise Invalid(
            {"name": f"Nothing to change: {box.username} already looks like that."}, usage=call.args.usage
        )
    api_call = built(
        call,
        lambda: calls.edit_mailbox(
            box.username,
            name=name,
            quota_mib=quota,
            active=active,
            force_pw_update=force_pw_update,
            protocol_access=protocols,
        ),
    )
    summary = f"Change mailbox {box.username}: {'; '.join(changes)}"
    return plan_on(call, "mailbox", box.username, summary, api_call)


def _external(box: Mailbox) -> str:
    """Why mailcow does not manage this mailbox's password (SERVER-FACTS §4.2)."""
    where = _SIGN_IN.get(box.authsource, box.authsource)
    return f"{box.username} signs in through {where}, so its password is managed there, not in mailcow."


def _protocols(value: str) -> list[str]:
    wanted = (
        [] if value.strip().lower() == "none" else [p.strip().lower() for p in value.split(",") if p.strip()]
    )
    unknown = sorted(set(wanted) - set(calls.PROTOCOLS))
    if unknown:
        raise UsageError(
            f"`{', '.join(unknown)}` is not a protocol; "
            f"protocols= takes {', '.join(calls.PROTOCOLS)} or none."
        )
    return wanted


@command(
    "mailbox",
    "edit",
    usage="mailbox edit ADDRESS [quota=MiB] [name=…] [active=yes|no|login-disabled] "
    "[force_pw_update=yes|no] [protocols=imap,smtp,…|none]",
    summary="change a mailbox's quota, name, state, protocols; without settings, a form filled in from it",
    example="mailbox edit jane@example.org quota=4096 active=login-disabled",
    role=Role.OPERATOR,
)
def edit_mailbox(call: Call) -> Plan | None:
    args = call.args
    address = parsed(call, valid_address, args.take("ADDRESS"))
    _refuse_typed_password(call)
    raw = {key: args.option(key) for key in ("quota", "name", "active", "force_pw_update", "protocols")}
    args.done()
    if all(value is None for value in raw.values()):
        channel = call.origin.channel_id
        open_form(
            call.services,
            trigger(call, f"mailbox edit {address} quota=MiB name=… active=yes|no"),
            views.EDIT_TITLE,
            lambda: _with_room(call, address),
            lambda found: (
                views.edit_view(found[0], found[1].hint(), channel=channel)
                if found
                else views.refusal(views.EDIT_TITLE, f"There is no mailbox {address}.")
            ),
        )
        return None
    return changes_plan(
        call,
        existing(call, address, "ADDRESS"),
        name=raw["name"],
        quota=parsed(call, lambda v: valid_integer(v, "quota (MiB)", minimum=1), raw["quota"])
        if raw["quota"]
        else None,
        active=parsed(call, active_value, raw["active"]) if raw["active"] else None,
        force_pw_update=parsed(call, lambda v: valid_flag(v, "force_pw_update"), raw["force_pw_update"])
        if raw["force_pw_update"]
        else None,
        protocols=parsed(call, _protocols, raw["protocols"]) if raw["protocols"] is not None else None,
    )


def _with_room(call: Call, address: str) -> tuple[Mailbox, Room] | None:
    box = call.mailcow.mailbox(address)
    return (box, domain_room(call, box.domain, "name", box.quota_mib)) if box else None


# --- password -------------------------------------------------------------------------------------


def resettable(box: Mailbox | None, address: str) -> str | None:
    """Why the password of `address` cannot be reset here, or None."""
    if box is None:
        return f"There is no mailbox {address}."
    if box.authsource != "mailcow":
        return f"{_external(box)} mailcow would ignore a new one while reporting success."
    return None


def reset_plan(call: Call, address: str, *, password: str, force_pw_update: bool, reason: str) -> Plan:
    """The approval-bound plan that sets a new password (fields: mailbox, password)."""
    problem = resettable(call.mailcow.mailbox(address), address)
    if problem:
        raise Invalid({"mailbox": problem}, usage=call.args.usage)
    problem = password_problem(call, password)
    if problem:
        raise Invalid({"password": problem}, usage=call.args.usage)
    how = "a generated one, shown only to the requester" if not password else "the one the requester typed"
    after = "; they must change it at their next login" if force_pw_update else ""
    plan = with_password(
        call,
        password,
        lambda secret: calls.set_mailbox_password(address, secret, force_pw_update=force_pw_update),
        summary=f"Reset the password of {address} to {how}{after}",
        address=address,
    )
    return plan.model_copy(update={"reason": reason}) if reason else plan


@command(
    "mailbox",
    "password",
    usage="mailbox password [ADDRESS]",
    summary="reset a mailbox's password after an approval (a form; a generated one goes only to you)",
    example="mailbox password jane@example.org",
    destructive=True,
)
def reset_password(call: Call) -> None:
    args = call.args
    raw = args.take_optional()
    _refuse_typed_password(call)
    args.done()
    address = parsed(call, valid_address, raw) if raw else None
    services, channel = call.services, call.origin.channel_id
    opening = trigger(call, "mailbox password ADDRESS")
    if address is None:
        services.slack.views_open(
            trigger_id=opening, view=views.reset_view(channel=channel, can_type=can_seal(services.settings))
        )
        return
    open_form(
        services,
        opening,
        views.RESET_TITLE,
        lambda: call.mailcow.mailbox(address),
        lambda box: (
            views.refusal(views.RESET_TITLE, problem)
            if (problem := resettable(box, address))
            else views.reset_view(channel=channel, can_type=can_seal(services.settings), box=box)
        ),
    )


# --- delete -----------------------------------------------------------------------------------------


@command(
    "mailbox",
    "delete",
    usage='mailbox delete ADDRESS [reason="…"]',
    summary="delete a mailbox and all its mail; aliases stop delivering to it",
    example='mailbox delete jane@example.org reason="left the company"',
    destructive=True,
)
def delete_mailbox(call: Call) -> Plan:
    address = parsed(call, valid_address, call.args.take("ADDRESS"))
    call.args.done()
    box = existing(call, address, "ADDRESS")
    summary = f"Delete mailbox {address} and all its mail ({usage_text(box)})"
    return plan_on(call, "mailbox", address, summary, calls.delete_mailboxes(address))
