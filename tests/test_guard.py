"""The allowlist and roles, on every payload type: refused requests never reach mailcow."""

from __future__ import annotations

import json

import pytest

from bot.guard import interaction
from bot.roles import Role
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import (
    ALLOWED,
    ALLOWED_2,
    ELSEWHERE,
    GROUP_MEMBER,
    OPERATOR,
    VIEWER,
    SlackDriver,
)


def mailcow_untouched(fake_mailcow: FakeMailcow) -> None:
    assert fake_mailcow.calls("/api/v1/") == [], [r.path for r in fake_mailcow.requests]


def test_command_from_other_channel_is_refused_ephemerally(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.reset_log()
    answer = slack.command("queue", channel=ELSEWHERE)
    body = answer.json()
    assert answer.status == 200
    assert body["response_type"] == "ephemeral"
    assert f"<#{ELSEWHERE}> is not an allowed channel" in body["text"]
    assert "CHATOPS_ALLOWED_CHANNELS" in body["text"]
    mailcow_untouched(fake_mailcow)
    assert fake_slack.posts() == []


def test_command_from_second_allowed_channel_runs(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    assert slack.command("queue", channel=ALLOWED_2).text == ""
    parent = fake_slack.wait_for(lambda s: s.posts(ALLOWED_2))[0]
    assert parent.args["text"].startswith("Mail queue:")


@pytest.mark.parametrize(
    "text", ["queue flush", "mailbox delete jane@example.org", "domain delete example.org"]
)
def test_viewer_cannot_request_changes(
    slack: SlackDriver, fake_mailcow: FakeMailcow, fake_slack: FakeSlack, text: str
) -> None:
    fake_mailcow.reset_log()
    body = slack.command(text, user=VIEWER).json()
    assert body["response_type"] == "ephemeral"
    assert "needs an operator" in body["text"]
    mailcow_untouched(fake_mailcow)
    assert fake_slack.posts() == []


def test_viewer_may_read(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    assert slack.command("queue", user=VIEWER).text == ""
    fake_slack.wait_for(lambda s: s.posts(ALLOWED))


def test_viewer_help_says_how_to_get_more(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("help", user=VIEWER)
    help_text = fake_slack.wait_for(lambda s: s.ephemerals())[0].text_content()
    assert "ask a mail admin for the operator role" in help_text


def test_user_group_member_is_an_operator(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    """CHATOPS_OPERATORS holds the group S0ONCALL; its member gets the role through usergroups.users.list."""
    answer = slack.command("help queue", user=GROUP_MEMBER)
    assert answer.text == ""
    assert fake_slack.calls_to("usergroups.users.list")[0].args["usergroup"] == "S0ONCALL"
    help_text = fake_slack.wait_for(lambda s: s.ephemerals())[0].text_content()
    assert "ask a mail admin for the operator role" not in help_text


def test_click_from_other_channel_is_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.reset_log()
    value = json.dumps({"cmd": "queue", "page": 2})
    answer = slack.click("page_next", value, channel=ELSEWHERE)
    assert answer.status == 200
    refusal = fake_slack.wait_for(lambda s: s.ephemerals())[0]
    assert refusal.method == "response_url"
    assert "not an allowed channel" in refusal.args["text"]
    mailcow_untouched(fake_mailcow)


def test_unknown_action_is_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.reset_log()
    assert slack.click("delete_everything", "x").status == 200
    refusal = fake_slack.wait_for(lambda s: s.ephemerals())[0]
    assert "not known to this version" in refusal.args["text"]
    mailcow_untouched(fake_mailcow)


def test_view_submission_without_allowed_channel_is_refused(
    slack: SlackDriver, fake_mailcow: FakeMailcow
) -> None:
    interaction("test_modal", Role.OPERATOR)
    fake_mailcow.reset_log()
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": "test_modal",
        "private_metadata": json.dumps({"channel": ELSEWHERE}),
        "state": {"values": {}},
    }
    body = slack.submit(view).json()
    assert body["response_action"] == "update"
    assert "not an allowed channel" in json.dumps(body["view"])
    mailcow_untouched(fake_mailcow)


def test_view_submission_without_any_channel_is_refused(slack: SlackDriver) -> None:
    interaction("test_modal", Role.OPERATOR)
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": "test_modal",
        "private_metadata": "",
        "state": {"values": {}},
    }
    body = slack.submit(view).json()
    assert "without one" in json.dumps(body["view"])


def test_view_submission_by_viewer_is_refused(slack: SlackDriver) -> None:
    interaction("test_modal", Role.OPERATOR)
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": "test_modal",
        "private_metadata": json.dumps({"channel": ALLOWED}),
        "state": {"values": {}},
    }
    body = slack.submit(view, user=VIEWER).json()
    assert "needs an operator" in json.dumps(body["view"])


def test_options_request_from_other_channel_is_refused(slack: SlackDriver, fake_mailcow: FakeMailcow) -> None:
    interaction("test_select", Role.OPERATOR)
    fake_mailcow.reset_log()
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": "x",
        "private_metadata": json.dumps({"channel": ELSEWHERE}),
    }
    body = slack.suggest("test_select", "jan", view=view).json()
    assert body["options"][0]["value"] == "refused"
    assert body["options"][0]["text"]["text"].startswith("Not allowed")
    mailcow_untouched(fake_mailcow)


def test_shortcut_by_viewer_is_refused_in_a_modal(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    interaction("test_shortcut", Role.OPERATOR, channel_free=True)
    assert slack.shortcut("test_shortcut", user=VIEWER).status == 200
    opened = fake_slack.wait_calls("views.open")[0]
    assert "needs an operator" in json.dumps(opened.args["view"])


def test_other_events_are_ignored(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    answer = slack.event({"type": "message", "user": OPERATOR, "channel": ALLOWED, "text": "hi"})
    assert answer.status == 200
    assert fake_slack.posts() == []
