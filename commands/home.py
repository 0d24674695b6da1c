"""The app's Home tab: the mail server at a glance, for the people who run it.

Drawn afresh on every `app_home_opened` and by its Refresh button: the queue by state with the oldest
age, active bans and the busiest networks, the watches and any open incident, the approval requests
that concern the viewer (with links to their messages), mailcow's version and containers, and the
newest audit entries. mailcow is read in parallel, from the cache where it is fresh, and a part that
cannot be read says so without hiding the rest.

Who sees what. A viewer is someone in an allowed channel, but Home has no channel, and checking
channel membership would need a scope the bot does not ask for. So the server is shown to the people
the settings name: approvers, and operators when CHATOPS_OPERATORS lists them (left empty, it makes
everyone an operator, which the guard limits to the allowed channels; Home cannot). Anyone else is
told where to ask. Of the pending approvals, an approver sees every request (their own marked: another
approver decides those); an operator sees their own, to follow up or withdraw; nobody else sees any,
since they could act on none. The one button, Refresh, only redraws what the viewer may see.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import logs
from bot.approvals import Approval
from bot.approvals.blocks import when
from bot.guard import interaction
from bot.mailcow import ContainerStatus, Fail2ban, MailcowError, QueueItem
from bot.render import actions, button, code, context, esc, header, lines_to_sections, number, section
from bot.roles import Role
from bot.services import Services
from bot.store import StoreUnavailable
from bot.watch import KINDS, Kind, Watch, WatchStore, permalink
from commands.audit import entry_line
from commands.ban import ban_rows, busiest_networks
from commands.queue import QueueSummary

log = logging.getLogger(__name__)
T = TypeVar("T")
Containers = dict[str, ContainerStatus] | MailcowError | None
"""`get/status/containers` as read here: the containers, mailcow's error, or None (dockerapi silent)."""

REFRESH = "home_refresh"
SHOWN_APPROVALS = 10
SHOWN_AUDIT = 8
DATABASE_DOWN = "_The bot's database is unavailable right now._"


def sees_the_server(services: Services, roles: frozenset[Role]) -> bool:
    """Approvers, and operators the settings name (see the module docstring)."""
    named_operator = bool(services.settings.operators) and Role.OPERATOR in roles
    return Role.APPROVER in roles or named_operator


def home_view(services: Services, user_id: str, roles: frozenset[Role]) -> View:
    slash = services.settings.command
    blocks: list[Block] = [header("mailcow")]
    if not sees_the_server(services, roles):
        allowed = ", ".join(f"<#{c}>" for c in services.settings.allowed_channels)
        blocks.append(
            section(
                f"This tab shows the mail server to its operators and approvers. Run `{slash} help` in "
                f"{allowed} to see what you can do there, or ask a mail admin to add you."
            )
        )
        return View(type="home", blocks=blocks)
    reads = read_mailcow(services)
    blocks += [
        section(queue_text(reads["queue"], reads["containers"])),
        *lines_to_sections(bans_lines(reads["fail2ban"])),
        section(mailcow_text(reads["version"], reads["containers"])),
        *lines_to_sections(watch_lines(services)),
        *lines_to_sections(approval_lines(services, user_id, roles)),
        *lines_to_sections(audit_lines(services)),
        context(f"Updated {when(services.scheduler.clock())} · `{slash} help` lists every command"),
        actions(button("Refresh", REFRESH, "home")),
    ]
    return View(type="home", blocks=blocks)


# --- mailcow -------------------------------------------------------------------------------------


def read_mailcow(services: Services) -> dict[str, Any]:
    """The queue, fail2ban, version and containers side by side; each is its value or its MailcowError."""
    client = services.mailcow
    readers: dict[str, Callable[[], Any]] = {
        "queue": client.queue,
        "fail2ban": client.fail2ban,
        "version": client.status_version,
        "containers": client.status_containers,
    }
    with ThreadPoolExecutor(max_workers=len(readers), thread_name_prefix="home") as pool:
        futures = {name: pool.submit(contextvars.copy_context().run, read) for name, read in readers.items()}
    return {name: _outcome(future) for name, future in futures.items()}


def _outcome(future: Future[T]) -> T | MailcowError:
    try:
        return future.result()
    except MailcowError as error:
        return error


def _unreadable(what: str, error: MailcowError) -> str:
    return f"*{what}*: :warning: could not be read: {esc(error.user_message)}"


def queue_text(items: list[QueueItem] | MailcowError, containers: Containers) -> str:
    if isinstance(items, MailcowError):
        return _unreadable("Mail queue", items)
    postfix = containers.get("postfix-mailcow") if isinstance(containers, dict) else None
    if not items and (postfix is None or not postfix.running):
        state = postfix.state if postfix is not None else "not reported"
        return (
            f"*Mail queue*: reads empty, but postfix-mailcow is `{esc(state)}`: :warning: it cannot be read"
        )
    return QueueSummary(items, time.time()).headline()


def bans_lines(f2b: Fail2ban | MailcowError) -> list[str]:
    if isinstance(f2b, MailcowError):
        return [_unreadable("fail2ban", f2b)]
    active = len(f2b.active_bans)
    busiest = busiest_networks(ban_rows(f2b))[:3]
    head = (
        f"*fail2ban*: *{number(active)}* active ban{'s' if active != 1 else ''} · "
        f"{number(len(f2b.perm_bans))} permanent"
    )
    return [head + (" · busiest:" if busiest else ""), *(f"    {line}" for line in busiest)]


def mailcow_text(version: str | MailcowError, containers: Containers) -> str:
    shown = code(version or "unknown") if isinstance(version, str) else "version unknown"
    if isinstance(containers, MailcowError):
        return f"*mailcow* {shown} · containers: :warning: {esc(containers.user_message)}"
    if not containers:
        return f"*mailcow* {shown} · container states unknown: dockerapi did not answer"
    down = sorted((c for c in containers.values() if not c.running), key=lambda c: c.name)
    if not down:
        return f"*mailcow* {shown} · all {number(len(containers))} containers running"
    names = ", ".join(f"{code(c.name)} {esc(c.state or '?')}" for c in down)
    return (
        f"*mailcow* {shown} · :red_circle: *{len(down)} of {len(containers)} containers not running*: {names}"
    )


# --- the bot's database ------------------------------------------------------------------------------


def _from_database(read: Callable[[], list[str]]) -> list[str]:
    try:
        return read()
    except StoreUnavailable as error:
        log.warning("Home: %s", error)
        return [DATABASE_DOWN]


def watch_lines(services: Services) -> list[str]:
    store = services.store
    if store is None:
        return []

    def read() -> list[str]:
        rows = WatchStore(store)
        kinds = sorted(KINDS.values(), key=lambda kind: kind.title)  # "Mail queue" before "fail2ban"
        return ["*Watches*", *(_watch_line(services, kind, rows.get(kind.name)) for kind in kinds)]

    return _from_database(read)


def _watch_line(services: Services, kind: Kind, watch: Watch | None) -> str:
    if watch is None or not watch.enabled:
        return f"{kind.title}: off · `{services.settings.command} {kind.area} watch` turns it on"
    where = f"{kind.title} → <#{watch.channel_id}>"
    if watch.incident_open and watch.incident_ts and watch.incident_channel:
        link = permalink(services, watch.incident_channel, watch.incident_ts, "the alert")
        return f":rotating_light: {where}: *incident* since {when(watch.incident_started_at or 0)} · {link}"
    if watch.check_error:
        return f":warning: {where}: the last check failed: {esc(watch.check_error)}"
    return f":large_green_circle: {where}: under every threshold ({kind.alerts_when(watch.thresholds)})"


def approval_lines(services: Services, user_id: str, roles: frozenset[Role]) -> list[str]:
    approvals = services.approvals
    if approvals is None:
        return []
    approver = Role.APPROVER in roles

    def read() -> list[str]:
        pending = [a for a in approvals.list_pending() if approver or a.requested_by == user_id]
        title = "*Waiting for approval*" if approver else "*Your requests waiting for approval*"
        if not pending:
            return [f"{title}: none"]
        lines = [f"{title} ({number(len(pending))})"]
        lines += [_approval_line(services, a, user_id) for a in pending[:SHOWN_APPROVALS]]
        if len(pending) > SHOWN_APPROVALS:
            lines.append(f"… and {number(len(pending) - SHOWN_APPROVALS)} more, oldest first above")
        return lines

    return _from_database(read)


def _approval_line(services: Services, approval: Approval, user_id: str) -> str:
    label = f"Request {approval.id}"
    link = (
        permalink(services, approval.channel_id, approval.message_ts, label) if approval.message_ts else label
    )
    own = " · _yours: another approver decides_" if approval.requested_by == user_id else ""
    return (
        f"• {link}: {esc(approval.summary)} · asked by <@{approval.requested_by}> {when(approval.created_at)}"
        f" · expires {when(approval.expires_at)}{own}"
    )


def audit_lines(services: Services) -> list[str]:
    store = services.store
    if store is None:
        return []
    return _from_database(
        lambda: ["*Recent activity*", *(entry_line(e) for e in store.audit_entries(SHOWN_AUDIT))]
    )


# --- listeners -----------------------------------------------------------------------------------


def publish(services: Services, user_id: str, roles: frozenset[Role]) -> None:
    try:
        services.slack.views_publish(user_id=user_id, view=home_view(services, user_id, roles))
    except SlackApiError as error:
        log.warning("could not publish Home for %s: %s", user_id, error.response.get("error"))


def register(app: App, services: Services) -> None:
    interaction(REFRESH, Role.VIEWER, channel_free=True)

    def acknowledge(ack: Ack) -> None:
        ack()

    def opened(event: dict[str, Any], context: dict[str, Any]) -> None:
        logs.correlation_id.set(context.get("correlation_id", "-"))
        if event.get("tab", "home") == "home":
            publish(services, str(event["user"]), context["roles"])

    def refresh(body: dict[str, Any], context: dict[str, Any]) -> None:
        logs.correlation_id.set(context.get("correlation_id", "-"))
        publish(services, str(body["user"]["id"]), context["roles"])

    app.event("app_home_opened")(ack=acknowledge, lazy=[opened])
    app.action(REFRESH)(ack=acknowledge, lazy=[refresh])
