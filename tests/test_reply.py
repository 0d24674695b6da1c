"""Posting answers: what reaches the channel, the thread, and the requester alone."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.reply import Reply, deliver
from bot.services import Origin
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, BOT_TOKEN, OPERATOR


def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.url)


def test_a_secret_typed_into_a_command_is_not_echoed_in_the_parent_message(fake_slack: FakeSlack) -> None:
    origin = Origin(ALLOWED, OPERATOR, command_text='syncjob edit 7 password=hunter2hunter2 pass="x y z"')
    deliver(client(fake_slack), origin, Reply(headline="Done"))
    [parent] = fake_slack.posts(ALLOWED)
    text = parent.text_content()
    assert "password=[redacted]" in text
    assert "hunter2hunter2" not in text
    assert "x y z" not in text


def test_the_answer_reaches_the_requester_when_the_bot_is_not_in_the_channel(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", "not_in_channel")
    origin = Origin(
        ALLOWED, OPERATOR, command_text="queue release ABC123", response_url=fake_slack.response_url()
    )
    deliver(client(fake_slack), origin, Reply(headline="Done: release ABC123", status="ok"))
    [private] = fake_slack.calls_to("response_url")
    assert private.args["response_type"] == "ephemeral"
    assert "Done: release ABC123" in private.text_content()
    assert "/invite @mailcow-chatops" in private.text_content()
