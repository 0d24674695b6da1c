"""The mailbox forms' listeners: their submissions, the mailbox and domain type-ahead, the domain
pick that redraws the quota, and the global shortcut "Create mailbox".

Each submission is checked on the ack path by the same functions the typed commands use
(`writes.py`), so a wrong field is answered next to it. A typed password is registered with the log
redactor before anything else happens to it.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import logs
from bot.args import UsageError
from bot.args import address as valid_address
from bot.guard import interaction
from bot.mailcow import MailcowError
from bot.roles import Role
from bot.services import Services
from commands._modals import (
    FIRST_LOAD,
    Invalid,
    MailboxDirectory,
    Ready,
    Submission,
    domain_options,
    form,
    mailbox_options,
    open_form,
    option,
    redraw,
)
from commands.mailbox import views
from commands.mailbox.writes import (
    active_value,
    changes_plan,
    create_form,
    create_now,
    existing,
    new_mailbox,
    reset_plan,
)


def _password(submission: Submission) -> str:
    """As typed (spaces count), and from now on never logged."""
    password = str(submission.values.get("password") or "")
    logs.register_secret(password)
    return password


def check_create(services: Services, submission: Submission) -> Ready:
    password = _password(submission)
    local, domain = submission.text("local_part"), submission.text("domain")
    if not domain:
        raise Invalid({"domain": "Pick the domain."})
    call = submission.call(services, "mailbox.create", f"mailbox create {local.lower()}@{domain}")
    flags = submission.ticked("flags")
    plan = new_mailbox(
        call,
        local,
        domain,
        name=submission.text("name"),
        quota=submission.number("quota_mb", "The quota"),
        password=password,
        active="active" in flags,
        force_pw_update="force_pw_update" in flags,
    )
    return Ready(plan, call.origin.command_text)


def check_reset(services: Services, submission: Submission) -> Ready:
    password = _password(submission)
    try:
        address = valid_address(submission.text(views.MAILBOX))
    except UsageError:
        raise Invalid({views.MAILBOX: "Pick the mailbox: type part of its address or name."}) from None
    call = submission.call(services, "mailbox.password", f"mailbox password {address}")
    plan = reset_plan(
        call,
        address,
        password=password,
        force_pw_update="yes" in submission.ticked("force_pw_update"),
        reason=submission.text("reason"),
    )
    return Ready(plan, call.origin.command_text)


def check_edit(services: Services, submission: Submission) -> Ready:
    address = str(submission.metadata.get("mailbox", ""))
    call = submission.call(services, "mailbox.edit", f"mailbox edit {address}")
    state = submission.text("active")
    plan = changes_plan(
        call,
        existing(call, address, "name"),
        name=submission.text("name"),
        quota=submission.number("quota_mb", "The quota"),
        active=active_value(state) if state else None,
    )
    return Ready(plan, call.origin.command_text)


def register(app: App, services: Services) -> None:
    channels = services.settings.allowed_channels
    form(app, services, views.CREATE, check_create, channel_free=True, after=create_now)
    form(app, services, views.RESET, check_reset)
    form(app, services, views.EDIT, check_edit)
    interaction(views.SHORTCUT, Role.OPERATOR, channel_free=True)
    interaction(views.MAILBOX, Role.OPERATOR)
    interaction(views.DOMAIN, Role.OPERATOR, channel_free=True)
    directory = MailboxDirectory(services)

    def acknowledge(ack: Ack) -> None:
        ack()

    def open_create_form(body: dict[str, Any], context: dict[str, Any]) -> None:
        """From the global shortcut, which carries no channel: ask for one unless only one is allowed."""
        logs.correlation_id.set(context.get("correlation_id", "-"))
        channel = channels[0] if len(channels) == 1 else None
        open_form(
            services,
            body["trigger_id"],
            views.CREATE_TITLE,
            services.mailcow.domains,
            lambda domains: create_form(domains, channel=channel, channels=channels),
        )

    def domain_picked(body: dict[str, Any], context: dict[str, Any]) -> None:
        """Redraw the create form with the picked domain's quota default and limits."""
        logs.correlation_id.set(context.get("correlation_id", "-"))
        submission = Submission.of(body, context)
        chosen = (body["actions"][0].get("selected_option") or {}).get("value")
        domains = services.mailcow.domains()
        channel = submission.metadata.get("channel")
        redraw(services, body, create_form(domains, channel=channel, channels=channels, chosen=chosen))

    def offer_mailboxes(ack: Ack, body: dict[str, Any]) -> None:
        ack(**mailbox_options(directory, str(body.get("value") or "")))

    def offer_domains(ack: Ack, body: dict[str, Any]) -> None:
        try:
            domains = services.executor.submit(services.mailcow.domains).result(timeout=FIRST_LOAD)
        except (TimeoutError, MailcowError):
            ack(options=[option("mailcow did not answer in time: type on to try again", "-")])
            return
        ack(options=domain_options(domains, str(body.get("value") or "")))

    app.shortcut(views.SHORTCUT)(ack=acknowledge, lazy=[open_create_form])
    app.action(views.DOMAIN)(ack=acknowledge, lazy=[domain_picked])
    app.options(views.MAILBOX)(offer_mailboxes)
    app.options(views.DOMAIN)(offer_domains)
