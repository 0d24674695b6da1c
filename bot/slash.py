"""The slash command and the Prev/Next buttons of paged lists.

The ack function only acknowledges (Slack's 3-second rule, and Bolt answers in about a millisecond
with `process_before_response=True`); the work runs in a lazy listener on Bolt's thread pool.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import logs
from bot.dispatch import produce
from bot.guard import interaction
from bot.render import PAGE_NEXT, PAGE_PREV, parse_pager_value
from bot.reply import deliver, send_ephemeral
from bot.roles import Role
from bot.services import Origin, Services


def register(app: App, services: Services) -> None:
    command = services.settings.command

    def acknowledge(ack: Ack) -> None:
        ack()

    def run_slash_command(body: dict[str, Any], context: dict[str, Any]) -> None:
        logs.correlation_id.set(context.get("correlation_id", "-"))
        origin = Origin(
            channel_id=body["channel_id"],
            user_id=body["user_id"],
            command_text=(body.get("text") or "").strip(),
            correlation_id=context.get("correlation_id", "-"),
            response_url=body.get("response_url"),
        )
        reply = produce(services, origin, context["roles"], trigger_id=body.get("trigger_id"))
        if reply is not None:
            deliver(services.slack, origin, reply, command=command)

    def turn_page(body: dict[str, Any], context: dict[str, Any]) -> None:
        """Re-run the read command for the requested page (from the cache) and replace the message."""
        logs.correlation_id.set(context.get("correlation_id", "-"))
        command_text, page = parse_pager_value(body["actions"][0]["value"])
        channel = body["container"]["channel_id"]
        origin = Origin(
            channel_id=channel,
            user_id=body["user"]["id"],
            command_text=command_text,
            correlation_id=context.get("correlation_id", "-"),
            response_url=body.get("response_url"),
        )
        reply = produce(services, origin, context["roles"], page=page, read_only=True)
        if reply is None:
            return
        if reply.listing is None or reply.ephemeral:
            send_ephemeral(services.slack, origin, reply.title, reply.blocks)
            return
        services.slack.chat_update(
            channel=channel,
            ts=body["container"]["message_ts"],
            text=reply.listing.title,
            blocks=reply.listing.page_blocks(page, command_text),
        )

    app.command(command)(ack=acknowledge, lazy=[run_slash_command])
    for action_id in (PAGE_PREV, PAGE_NEXT):
        interaction(action_id, Role.VIEWER)
        app.action(action_id)(ack=acknowledge, lazy=[turn_page])
