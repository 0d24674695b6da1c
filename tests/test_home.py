"""The Home tab: published on every `app_home_opened`, showing only what the viewer may see.

Events and the Refresh click go through the signed dispatch path like everything else; each test
reads the view the bot published with `views.publish` as a person would read it.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.services import Services
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask
from tests.fakes.db_plugin import FakeClock
from tests.fakes.mailcow import VERSION, FakeMailcow
from tests.fakes.manual_app import tick
from tests.fakes.reading import readable, say
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, APPROVER, GROUP_MEMBER, OPERATOR, VIEWER, SlackDriver

services, bolt_app, clock = manual_app.services, manual_app.bolt_app, manual_app.watch_clock


def open_home(slack: SlackDriver, fake_slack: FakeSlack, user: str) -> dict[str, Any]:
    """Open the app's Home tab as `user`; returns the view published for them."""
    seen = len(fake_slack.calls_to("views.publish"))
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    assert slack.event(event).status == 200
    published = fake_slack.wait_calls("views.publish", seen + 1)[seen]
    assert published.args["user_id"] == user
    view: dict[str, Any] = published.args["view"]
    return view


def test_an_operator_sees_the_server_their_requests_and_recent_activity(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    view = open_home(slack, fake_slack, OPERATOR)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = readable(view)
    assert "Mail queue: *6* messages — " in text and " · oldest " in text
    assert "*fail2ban*: *1* active ban · 0 permanent · busiest:\n    `203.0.113.0/24` × 1" in text
    assert f"*mailcow* `{VERSION}` · all 14 containers running" in text
    assert (
        "*Watches*\nMail queue: off · `/mailcow queue watch` turns it on\n"
        "fail2ban: off · `/mailcow ban watch` turns it on"
    ) in text
    assert "*Your requests waiting for approval* (1)" in text
    assert (
        f"• <https://test.slack.com/archives/{ALLOWED}/p{request.ts.replace('.', '')}|Request {request.id}>: "
        "Flush the mail queue: retry delivery of every deferred message now"
    ) in text
    assert "_yours: another approver decides_" in text
    assert "*Recent activity*" in text and "*request*" in text and "queue.flush" in text
    [refresh] = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert refresh["action_id"] == "home_refresh"
    assert fake_slack.violations == []


def test_an_approver_sees_every_pending_request(slack: SlackDriver, fake_slack: FakeSlack, ask: Ask) -> None:
    request = ask("queue flush")
    text = readable(open_home(slack, fake_slack, APPROVER))
    assert "*Waiting for approval* (1)" in text
    assert f"|Request {request.id}>: Flush the mail queue" in text and f"asked by <@{OPERATOR}>" in text
    assert "_yours" not in text


def test_others_see_only_where_to_ask_and_mailcow_is_not_read(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    ask("queue flush")
    fake_mailcow.reset_log()
    view = open_home(slack, fake_slack, VIEWER)
    text = readable(view)
    assert "This tab shows the mail server to its operators and approvers." in text
    assert f"Run `/mailcow help` in <#{ALLOWED}>" in text
    for hidden in ("Mail queue", "fail2ban", "approval", "Recent activity"):
        assert hidden not in text
    assert fake_mailcow.requests == []


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_OPERATORS": ""}], indirect=True)
def test_when_everyone_is_an_operator_home_still_shows_the_server_only_to_approvers(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    assert "This tab shows the mail server" in readable(open_home(slack, fake_slack, GROUP_MEMBER))
    assert "Mail queue:" in readable(open_home(slack, fake_slack, APPROVER))


def test_the_messages_tab_publishes_nothing(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services
) -> None:
    slack.event({"type": "app_home_opened", "user": OPERATOR, "channel": "D0HOME", "tab": "messages"})
    open_home(slack, fake_slack, APPROVER)
    services.executor.shutdown(wait=True)  # every lazy listener has finished
    assert [c.args["user_id"] for c in fake_slack.calls_to("views.publish")] == [APPROVER]


def test_what_cannot_be_read_says_so_and_the_rest_still_shows(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.containers["postfix-mailcow"]["state"] = "exited"
    fake_mailcow.fail_next("get/fail2ban", "html500:redis", times=3)
    text = readable(open_home(slack, fake_slack, OPERATOR))
    assert (
        "*fail2ban*: :warning: could not be read: mailcow could not serve get/fail2ban: its connection"
        in text
    )
    assert "*1 of 14 containers not running*: `postfix-mailcow` exited" in text
    assert "Mail queue: *6* messages" in text


def test_an_open_incident_links_its_alert_and_refresh_redraws(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    text = readable(open_home(slack, fake_slack, OPERATOR))
    assert f":rotating_light: Mail queue → <#{ALLOWED}>: *incident* since <!date^" in text
    assert f"<https://test.slack.com/archives/{ALLOWED}/p{alert.replace('.', '')}|the alert>" in text

    fake_mailcow.set_queue()
    tick(services, clock, fake_slack)
    seen = len(fake_slack.calls_to("views.publish"))
    slack.click("home_refresh", "home", user=OPERATOR, view={"id": "V1", "type": "home"})
    refreshed = fake_slack.wait_calls("views.publish", seen + 1)[seen]
    text = readable(refreshed.args["view"])
    assert f":large_green_circle: Mail queue → <#{ALLOWED}>: under every threshold" in text
    assert "Mail queue: *empty*" in text
