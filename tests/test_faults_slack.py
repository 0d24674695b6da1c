"""Slack faults, end to end: rate limits are waited out and the answer still arrives; `ok: false`
answers reach the person as words they can act on (invite the bot, click again), never as silence.

Rate limits cost real seconds (Slack's Retry-After is whole seconds), so there are three: a command's
answer, an approval's outcome redraw and a page turn.
"""

from __future__ import annotations

import json

from bot.approvals import State
from bot.approvals.blocks import APPROVE, DENY
from bot.render import PAGE_NEXT
from bot.services import Services
from tests.fakes import faults, manual_app
from tests.fakes.approval_plugin import Ask, approval_state
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import buttons, parents, reply_to, said, shown, wait_shown, wait_thread
from tests.fakes.slack import FakeSlack, SlackCall
from tests.fakes.slack_plugin import ALLOWED, APPROVER, OPERATOR, SlackDriver

settings_overrides, services, bolt_app = faults.settings_overrides, faults.services, manual_app.bolt_app
gate = faults.gate

NOT_A_MEMBER = f"I am not a member of <#{ALLOWED}>"
CHANNEL_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")


def remove_bot(fake_slack: FakeSlack) -> None:
    """The bot is no longer in the channel: every call that writes there answers `not_in_channel`
    (a response URL still works: it belongs to the person's click or command, not to the channel)."""
    for method in CHANNEL_METHODS:
        fake_slack.fail_next(method, "not_in_channel", times=1_000)


def invite_bot(fake_slack: FakeSlack) -> None:
    """`/invite @mailcow-chatops`: the channel works again."""
    fake_slack.clear_failures()


def honoured(calls: list[SlackCall]) -> None:
    """The last two calls are one call and its retry, made at least Retry-After (1 s) apart."""
    limited, retried = calls[-2:]
    assert limited.args == retried.args
    assert retried.at - limited.at >= 1.0


def told_through_response_url(fake_slack: FakeSlack, words: str, *, timeout: float = 5.0) -> str:
    """What the person alone was told through their response URL (not chat.postEphemeral, which the
    channel refuses here), once it says `words`."""
    found = fake_slack.wait_for(
        lambda s: next((text for c in s.calls_to("response_url") if words in (text := said(c))), None),
        timeout,
    )
    return str(found)


# --- rate limits ---------------------------------------------------------------------------------


def test_a_rate_limited_answer_is_posted_after_retry_after(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit_next("chat.postMessage", retry_after=1)
    reply = reply_to(slack, fake_slack, "queue", thread_messages=0, until="Top deferral reasons")
    assert reply.headline.startswith("Mail queue: *")
    honoured(fake_slack.posts(ALLOWED)[:2])
    assert len(parents(fake_slack)) == 1


def test_a_rate_limited_outcome_redraw_is_retried_and_the_request_shows_the_outcome(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    fake_mailcow.latency = 0.1  # room between the "Running" redraw and the outcome's
    slack.click(APPROVE, request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Running:*")
    fake_slack.rate_limit_next("chat.update", retry_after=1)

    wait_shown(fake_slack, request.ts, "*Done:*")
    redraws = [c for c in fake_slack.calls_to("chat.update") if c.args["ts"] == request.ts]
    assert len(redraws) == 3  # running; the outcome, refused with 429; the outcome again
    honoured(redraws)
    wait_thread(fake_slack, request.ts, "Done: Flush the mail queue")
    assert len(fake_mailcow.calls("edit/mailq")) == 1


def test_a_rate_limited_page_turn_is_retried_and_the_page_turns(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_queue_items(30, seed=31)
    reply_to(slack, fake_slack, "queue", thread_messages=0, until="Messages, oldest first")
    ts, listing = next(
        (ts, m) for ts, m in fake_slack.messages.items() if "Messages, oldest first" in m["text"]
    )
    fake_slack.rate_limit_next("chat.update", retry_after=1)
    slack.click(PAGE_NEXT, buttons(listing)[PAGE_NEXT]["value"], message_ts=ts)

    fake_slack.wait_for(lambda s: "◀ Prev" in shown(s, ts))
    turns = fake_slack.calls_to("chat.update")
    assert len(turns) == 2
    honoured(turns)
    assert json.loads(buttons(fake_slack.messages[ts])["page_prev"]["value"])["page"] == 1


# --- ok: false -----------------------------------------------------------------------------------


def test_an_answer_in_a_channel_without_the_bot_tells_the_person_to_invite_it(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    remove_bot(fake_slack)
    slack.command("queue")
    said = told_through_response_url(fake_slack, NOT_A_MEMBER)
    assert "Invite me with `/invite @mailcow-chatops`" in said
    assert parents(fake_slack) == []


def test_an_answer_to_a_channel_slack_cannot_find_says_so(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", "channel_not_found")
    slack.command("queue")
    said = told_through_response_url(fake_slack, "Slack says `channel_not_found`")
    assert f"I cannot post in <#{ALLOWED}>" in said
    assert parents(fake_slack) == []


def test_a_request_that_cannot_be_posted_asks_for_an_invite_and_is_posted_once_asked_again(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    remove_bot(fake_slack)
    slack.command("queue flush")
    assert "Invite me with `/invite @mailcow-chatops`" in told_through_response_url(fake_slack, NOT_A_MEMBER)
    assert parents(fake_slack) == []
    assert services.approvals is not None
    [waiting] = services.approvals.list_pending()
    assert waiting.message_ts is None

    invite_bot(fake_slack)
    request = ask("queue flush")
    assert request.id == waiting.id, "the same request, now posted: not a second one"
    slack.click(APPROVE, request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    assert len(fake_mailcow.calls("edit/mailq")) == 1


def test_an_outcome_whose_redraw_slack_refuses_still_reaches_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    request = ask("queue flush")
    fake_slack.fail_next("chat.update", "cant_update_message", times=2)  # "running", then the outcome
    slack.click(APPROVE, request.id, user=APPROVER)
    details = wait_thread(fake_slack, request.ts, "Done: Flush the mail queue")
    assert "• queue command done" in details
    assert approval_state(services, request.id) == State.DONE
    assert len(fake_slack.calls_to("chat.update")) == 2


def test_a_deny_click_whose_form_slack_will_not_open_any_more_asks_to_click_again(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, ask: Ask
) -> None:
    request = ask("queue flush")
    fake_slack.fail_next("views.open", "expired_trigger_id")
    slack.click(DENY, request.id, user=APPROVER)
    fake_slack.wait_calls("views.open")
    said = told_through_response_url(fake_slack, "Deny", timeout=1.0)
    assert "again" in said
    assert approval_state(services, request.id) == State.PENDING


def test_the_approver_learns_the_outcome_when_the_bot_was_removed_from_the_channel(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    request = ask("queue flush")
    remove_bot(fake_slack)
    slack.click(APPROVE, request.id, user=APPROVER)
    fake_slack.wait_for(lambda _: approval_state(services, request.id) == State.DONE)
    said = told_through_response_url(fake_slack, "Done: Flush the mail queue", timeout=1.0)
    assert "/invite @mailcow-chatops" in said
    assert "run the command again" not in said


def test_an_operator_learns_a_writes_outcome_when_the_bot_is_not_in_the_channel(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    [held] = fake_mailcow.add_queue_items(1, queue_name="hold", seed=32)
    remove_bot(fake_slack)
    slack.command(f"queue release {held}", user=OPERATOR)
    said = told_through_response_url(fake_slack, NOT_A_MEMBER)
    assert fake_mailcow.queue.rows[held]["queue_name"] == "deferred"
    assert f"Done: Release 1 message ({held}) from hold" in said
    assert "run the command again" not in said
