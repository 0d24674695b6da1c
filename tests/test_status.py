"""`status`: version, containers (flagging any not running), mail storage, and dockerapi being down."""

from __future__ import annotations

from tests.fakes.mailcow import VERSION, FakeMailcow
from tests.fakes.reading import answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


def test_all_running(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("status", user=VIEWER)
    reply = answer(fake_slack, "Times in UTC")
    assert reply.headline == f"mailcow `{VERSION}`: all 14 containers running · mail storage 28% used"
    assert reply.field("Version") == f"`{VERSION}`"
    assert reply.field("Mail storage") == "11G of 41G used (28%) on `/dev/sda1`"
    assert reply.field("Containers") == "14 running, 0 not"
    assert ":large_green_circle: `postfix-mailcow` running · up " in reply.text
    assert "since 2026-08-01 03:12:09Z" in reply.text


def test_stopped_containers_are_flagged_first(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.containers["sogo-mailcow"]["state"] = "exited"
    fake_mailcow.containers["clamd-mailcow"]["state"] = "restarting"
    slack.command("status show")
    reply = answer(fake_slack, "Times in UTC")
    assert reply.headline == (
        f":warning: mailcow `{VERSION}`: *2 of 14 containers not running*: "
        "`clamd-mailcow` restarting, `sogo-mailcow` exited · mail storage 28% used"
    )
    assert reply.field("Containers") == "12 running, 2 not"
    lines = reply.text.splitlines()
    first = next(i for i, line in enumerate(lines) if "-mailcow`" in line)
    assert lines[first].startswith(":red_circle: `clamd-mailcow` *restarting* · last started 2026-08-01")
    assert lines[first + 1].startswith(":red_circle: `sogo-mailcow` *exited*")
    assert lines[first + 2].startswith(":large_green_circle: `acme-mailcow` running")


def test_dockerapi_down_is_said_in_words(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.dockerapi_up = False
    slack.command("status")
    reply = answer(fake_slack, "docker compose ps")
    assert reply.headline == (
        f":warning: mailcow `{VERSION}`: container states *unknown* — dockerapi did not answer"
    )
    assert reply.field("Containers") == "unknown"
    assert reply.field("Mail storage") == "unknown: dovecot could not be asked"


def test_mailcow_down_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/status", "html500:dockerapi", times=3)
    slack.command("status")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow did not answer."
    assert "its connection to the dockerapi container failed (HTTP 500)" in reply.text


def test_extra_words_are_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, "status show everything")
    assert "unexpected argument `everything`." in said
    assert "Usage: `/mailcow status`" in said
