"""Getting an answer into Slack: a parent message in the channel with the details in its thread.

Slash commands carry no thread, so every channel answer starts a parent message (who ran what, the
headline) and puts the details, the paged list and any CSV in that message's thread. Answers meant
for one person (help, bad input, refusals, secrets) go ephemeral through the response URL, or
`chat.postEphemeral` where there is none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot.guard import redact_options
from bot.render import (
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_TEXT,
    Listing,
    clip,
    code,
    context,
    esc,
    section,
    split_messages,
)
from bot.services import Origin

log = logging.getLogger(__name__)

Status = Literal["info", "ok", "warn", "error"]
_ICONS: dict[str, str] = {"info": "", "ok": ":white_check_mark: ", "warn": ":warning: ", "error": ":x: "}
_CHANNEL_GONE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


@dataclass
class Reply:
    """What a command answers. `headline` goes in the parent message; the rest in its thread."""

    headline: str
    blocks: list[Block] = field(default_factory=list)
    listing: Listing | None = None
    ephemeral: bool = False
    status: Status = "info"

    @property
    def title(self) -> str:
        return f"{_ICONS[self.status]}{self.headline}"


def retry_handlers() -> list[ConnectionErrorRetryHandler | RateLimitErrorRetryHandler]:
    """Honour 429 Retry-After (up to 3 times) and retry dropped connections, for every Slack call."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]


def command_label(origin: Origin, command: str) -> str:
    """The command as typed, for the parent message; a `password=…` typed into it is not echoed."""
    return code(f"{command} {redact_options(origin.command_text)}".strip()) if origin.command_text else ""


def parent_blocks(origin: Origin, reply: Reply, command: str) -> list[Block]:
    credit = f"<@{origin.user_id}>" if origin.user_id else ""
    return [
        section(reply.title),
        context(" · ".join(p for p in (credit, command_label(origin, command)) if p)),
    ]


def deliver(slack: WebClient, origin: Origin, reply: Reply, *, command: str = "/mailcow") -> str | None:
    """Post `reply`; returns the ts of the thread it went into (None for ephemeral answers)."""
    if reply.ephemeral:
        send_ephemeral(
            slack, origin, reply.title, [section(reply.title), *reply.blocks] if reply.blocks else []
        )
        return None
    try:
        thread_ts = origin.thread_ts
        if thread_ts is None:
            parent = slack.chat_postMessage(
                channel=origin.channel_id,
                text=clip(reply.title, MAX_TEXT),
                blocks=parent_blocks(origin, reply, command),
                unfurl_links=False,
                unfurl_media=False,
            )
            thread_ts = str(parent["ts"])
            post_in_thread(slack, origin.channel_id, thread_ts, reply.blocks, reply.title)
        else:
            post_in_thread(
                slack, origin.channel_id, thread_ts, [section(reply.title), *reply.blocks], reply.title
            )
        if reply.listing is not None:
            post_listing(slack, origin, thread_ts, reply.listing)
        return thread_ts
    except SlackApiError as error:
        code_ = str(error.response.get("error", ""))
        if code_ in _CHANNEL_GONE:
            # The answer itself must not be lost (a write may already have run): it goes to the
            # requester alone, with what to do about the channel.
            problem = channel_problem(code_, origin.channel_id)
            blocks = [section(reply.title), *reply.blocks][: MAX_BLOCKS - 1]
            send_ephemeral(slack, origin, f"{reply.title}\n{problem}", [*blocks, context(problem)])
            return None
        raise


def channel_problem(error_code: str, channel_id: str) -> str:
    if error_code == "not_in_channel":
        return (
            f":warning: I am not a member of <#{channel_id}>, so only you see this answer. "
            "Invite me with `/invite @mailcow-chatops` so answers are posted there."
        )
    if error_code == "is_archived":
        return f":warning: <#{channel_id}> is archived, so I could not post the answer there."
    return f":warning: I cannot post in <#{channel_id}> (Slack says `{error_code}`). Check that I was added."


def post_in_thread(
    slack: WebClient, channel: str, thread_ts: str, blocks: Sequence[Block], fallback: str
) -> None:
    for chunk in split_messages(blocks):
        slack.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=clip(fallback, MAX_TEXT),
            blocks=chunk,
            unfurl_links=False,
            unfurl_media=False,
        )


def pager_command(origin: Origin) -> str | None:
    """The command the Prev/Next buttons re-run; None when it would not fit in a button value."""
    return origin.command_text if len(origin.command_text) < MAX_BUTTON_VALUE - 64 else None


def post_listing(slack: WebClient, origin: Origin, thread_ts: str, listing: Listing) -> None:
    slack.chat_postMessage(
        channel=origin.channel_id,
        thread_ts=thread_ts,
        text=clip(listing.title, MAX_TEXT),
        blocks=listing.page_blocks(1, pager_command(origin)),
        unfurl_links=False,
        unfurl_media=False,
    )
    if listing.wants_csv:
        slack.files_upload_v2(
            channel=origin.channel_id,
            thread_ts=thread_ts,
            content=listing.csv(),
            filename=listing.filename,
            title=listing.title,
            initial_comment=f"All {len(listing.rows):,} rows of {esc(listing.title)} as CSV.",
        )


def send_ephemeral(slack: WebClient, origin: Origin, text: str, blocks: Sequence[Block]) -> None:
    """Only the requester sees this: through the response URL if we have one, else chat.postEphemeral."""
    payload_blocks = [b.to_dict() for b in blocks] if blocks else None
    if origin.response_url:
        webhook = WebhookClient(origin.response_url, retry_handlers=retry_handlers())  # type: ignore[arg-type]
        response = webhook.send(
            text=clip(text, MAX_TEXT),
            blocks=payload_blocks,
            response_type="ephemeral",
            replace_original=False,
        )
        if response.status_code == 200:
            return
        log.warning("response_url answered %s; falling back to chat.postEphemeral", response.status_code)
    try:
        slack.chat_postEphemeral(
            channel=origin.channel_id, user=origin.user_id, text=clip(text, MAX_TEXT), blocks=payload_blocks
        )
    except SlackApiError as error:
        log.warning("could not reach %s ephemerally: %s", origin.user_id, error.response.get("error"))


def send_direct(slack: WebClient, user_id: str, text: str, blocks: Sequence[Block] = ()) -> None:
    """A direct message from the bot to one person (for what must not appear in a channel)."""
    channel = slack.conversations_open(users=user_id)["channel"]["id"]
    slack.chat_postMessage(
        channel=channel, text=clip(text, MAX_TEXT), blocks=[b.to_dict() for b in blocks] if blocks else None
    )
