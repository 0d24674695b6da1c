"""`quarantine release ID` and `quarantine delete ID`: both wait for an approval.

A release delivers the message and trains rspamd as ham (SERVER-FACTS §4.7), so the request shows
who sent what to whom, with its score and virus flag; the tests check that, the exact call mailcow
receives after the click, and that a message that left the quarantine meanwhile is not acted on.
"""

from __future__ import annotations

import pytest

from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask, approve
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import private_answer, shown, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, SlackDriver

# The app with an injected clock and no background thread (tests/fakes/manual_app.py).
services, bolt_app = manual_app.services, manual_app.bolt_app


def quarantined(fake: FakeMailcow, *, virus: int = 0) -> str:
    item = fake.add_quarantine(
        sender="billing@evil.example", rcpt="alice@example.org", subject="Invoice overdue", score=15.3
    )
    fake.quarantine[str(item)]["virus_flag"] = virus
    return str(item)


def test_release_shows_the_message_and_what_releasing_does_then_delivers_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    item = quarantined(fake_mailcow)
    asked, done, thread = approve(slack, fake_slack, ask, f"quarantine release {item}")
    assert (
        f"Release quarantined message #{item} from billing@evil.example to alice@example.org, "
        "“Invoice overdue”: it is delivered to alice@example.org, and rspamd learns it as ham."
    ) in asked
    for fact in (
        "*from*\nbilling@evil.example",
        "*to*\nalice@example.org",
        "*subject*\nInvoice overdue",
        "*score*\n15.3 (reject)",
        "*virus*\nno",
    ):
        assert fact in asked, asked
    assert "VIRUS" not in asked
    assert fake_mailcow.sent() == [("edit/qitem", {"items": [item], "attr": {"action": "release"}})]
    assert fake_mailcow.quarantine == {}
    assert f"quarantined message {item} released" in thread and f"message {item} learned as ham" in thread
    assert "no longer in mailcow (was: from: billing@evil.example; to: alice@example.org;" in thread
    assert "*Done:*" in done


def test_releasing_a_message_with_a_virus_says_so_in_the_request(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    item = quarantined(fake_mailcow, virus=3)
    text = shown(fake_slack, ask(f"quarantine release {item}").ts)
    assert "It was flagged as carrying a VIRUS." in text and "*virus*\nyes" in text
    assert fake_mailcow.writes() == []


def test_delete_removes_it_for_good(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    item = quarantined(fake_mailcow)
    asked, _, thread = approve(slack, fake_slack, ask, f"quarantine delete {item}")
    assert f"Delete quarantined message #{item} from billing@evil.example" in asked
    assert ": it is gone for good and never delivered" in asked
    assert fake_mailcow.sent() == [("delete/qitem", [item])]
    assert fake_mailcow.quarantine == {}
    assert f"item {item} deleted" in thread


def test_a_message_that_left_the_quarantine_meanwhile_is_not_released(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    item = quarantined(fake_mailcow)
    request = ask(f"quarantine release {item}")
    fake_mailcow.quarantine.clear()
    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "Not run, the target changed")
    assert 'from: "billing@evil.example" → (none)' in text
    assert fake_mailcow.writes() == []


def test_mailcows_refusal_to_release_is_shown_in_plain_words_and_the_message_stays(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    item = quarantined(fake_mailcow)
    request = ask(f"quarantine release {item}")
    fake_mailcow.fail_next("edit/qitem", "danger:release_send_failed")
    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Failed:*")
    assert "releasing the message failed" in text
    assert item in fake_mailcow.quarantine


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("quarantine release", "the quarantined message's ID is missing."),
        ("quarantine release abc", "`abc` is not a quarantined message ID; expected a number like `7`"),
        ("quarantine release 99", "there is no quarantined message `99` on this mailcow"),
        ("quarantine delete 99", "there is no quarantined message `99` on this mailcow"),
        ("quarantine delete 1 2", "unexpected argument `2`."),
    ],
)
def test_bad_input_is_answered_privately_and_nothing_is_requested(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    quarantined(fake_mailcow)
    answer = private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)
    assert "That command is not quite right." in answer and told in answer, answer
