"""One translation from exceptions to messages a person can act on.

Whatever goes wrong, Slack gets plain words and a short reference (the correlation id, which is also
on every log line of that request), never a traceback. Errors we expect (bad input, mailcow saying
no or not answering) are explained; anything else is logged with its traceback and reported as an
internal error with the reference, so the on-call can find the log line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot.args import UsageError
from bot.mailcow.errors import MailcowAuthError, MailcowError, MailcowRejected, MailcowUnavailable
from bot.render import context, esc, section
from bot.reply import Reply

log = logging.getLogger(__name__)


class ChatopsError(Exception):
    """An expected refusal or problem inside the bot, already worded for the person who asked."""

    def __init__(self, message: str, *, status: str = "warn") -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def explain(error: BaseException) -> tuple[str, str]:
    """(headline, detail) in plain words for any exception."""
    if isinstance(error, UsageError):
        return "That command is not quite right.", str(error)
    if isinstance(error, ChatopsError):
        return error.message, ""
    if isinstance(error, MailcowAuthError):
        return "mailcow refused the bot's API key.", error.user_message
    if isinstance(error, MailcowRejected):
        return "mailcow said no.", error.user_message
    if isinstance(error, MailcowUnavailable):
        return "mailcow did not answer.", error.user_message
    if isinstance(error, MailcowError):
        return "mailcow call failed.", error.user_message
    if isinstance(error, SlackApiError):
        return (
            "Slack refused a call from the bot.",
            f"Slack answered `{error.response.get('error', 'unknown')}`.",
        )
    return "Something went wrong inside the bot.", "This is a bug; the reference below finds it in the log."


def error_reply(error: BaseException, correlation_id: str) -> Reply:
    headline, detail = explain(error)
    ephemeral = isinstance(error, UsageError | ChatopsError)
    status = error.status if isinstance(error, ChatopsError) else ("warn" if ephemeral else "error")
    blocks: list[Block] = (
        [section(esc(detail) if not isinstance(error, UsageError) else detail)] if detail else []
    )
    blocks.append(context(f"ref `{correlation_id}`"))
    return Reply(headline=headline, blocks=blocks, ephemeral=ephemeral, status=status)  # type: ignore[arg-type]


def log_error(error: BaseException, what: str) -> None:
    """Expected failures get one line; unexpected ones get the traceback (redacted by the log filter)."""
    if isinstance(error, UsageError | ChatopsError):
        log.info("%s: %s", what, error)
    elif isinstance(error, MailcowError):
        log.warning("%s: mailcow %s: %s", what, type(error).__name__, error.user_message)
    else:
        log.error("%s failed", what, exc_info=error)


def ack_error_handler(error: Exception, body: dict[str, Any], context: dict[str, Any]) -> BoltResponse:
    """Bolt's global error handler: whatever failed before or during ack, Slack gets a 200 and words."""
    cid = context.get("correlation_id", "-") if context else "-"
    log_error(error, "request")
    if isinstance(body, dict) and "command" in body:
        text = f":x: Something went wrong handling that command (ref `{cid}`)."
        return BoltResponse(
            status=200,
            body=json.dumps({"response_type": "ephemeral", "text": text}),
            headers={"content-type": "application/json"},
        )
    return BoltResponse(status=200, body="")
