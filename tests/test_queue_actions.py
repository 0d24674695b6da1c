"""The queue actions: `flush`, `delete ID…|all`, `hold ID…` need an approval, `release ID…` runs at once.

Each one is typed as Slack sends it; the tests check the exact body mailcow receives (SERVER-FACTS
§4.4: `edit/mailq` with items + attr.action, `delete/mailq` with a bare list of ids), what the queue
looks like afterwards, and what a person reads, including the read-back.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.mailcow import MailcowClient
from bot.services import Services
from commands.queue import NOT_QUEUED, queue_state
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import parents, readable, wait_shown, wait_told
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, APPROVER, OPERATOR, VIEWER, SlackDriver

# The app with an injected clock and no background thread (tests/fakes/manual_app.py).
services, bolt_app = manual_app.services, manual_app.bolt_app


def queued(fake_mailcow: FakeMailcow, queue_name: str = "deferred") -> str:
    [qid] = fake_mailcow.add_queue_items(1, queue_name=queue_name, seed=99)
    return qid


@pytest.mark.parametrize(
    "case",
    [
        ("queue flush", "edit/mailq", {"items": [], "attr": {"action": "flush"}}, "flushed"),
        ("queue delete {qid}", "delete/mailq", ["{qid}"], "gone"),
        ("queue delete all", "edit/mailq", {"items": [], "attr": {"action": "super_delete"}}, "empty"),
        ("queue hold {qid}", "edit/mailq", {"items": ["{qid}"], "attr": {"action": "hold"}}, "hold"),
    ],
)
def test_destructive_queue_actions_wait_for_an_approval_then_send_exactly_that(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    ask: Ask,
    case: tuple[str, str, Any, str],
) -> None:
    typed, path, body, after = case
    qid = queued(fake_mailcow)
    expected = eval_body(body, qid)
    request = ask(typed.format(qid=qid))
    assert fake_mailcow.writes() == []

    slack.click("approval_approve", request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    [sent] = [r for r in fake_mailcow.requests if not r.path.startswith("get/")]
    assert (sent.path, sent.json_body) == (path, expected)
    rows = fake_mailcow.queue.rows
    if after == "flushed":
        assert rows[qid]["queue_name"] == "active"
    elif after == "gone":
        assert qid not in rows
    elif after == "empty":
        assert rows == {}
    else:
        assert rows[qid]["queue_name"] == "hold"


def eval_body(body: Any, qid: str) -> Any:
    if isinstance(body, dict):
        return {k: eval_body(v, qid) for k, v in body.items()}
    if isinstance(body, list):
        return [eval_body(v, qid) for v in body]
    return body.format(qid=qid) if isinstance(body, str) else body


def test_a_hold_request_shows_where_each_message_is_and_the_read_back_says_what_changed(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    first, second = queued(fake_mailcow), queued(fake_mailcow)
    request = ask(f'queue hold {first} {second.lower()} reason="spam run"')
    text = readable(fake_slack.messages[request.ts])
    assert f"Put 2 messages ({first}, {second}) on hold" in text
    assert f"*{first}*\ndeferred" in text and f"*{second}*\ndeferred" in text
    assert "*Reason*\nspam run" in text

    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    assert f'{first}: "deferred" → "hold"; {second}: "deferred" → "hold"' in text


def test_release_runs_at_once_for_an_operator_and_reads_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services
) -> None:
    held = queued(fake_mailcow, "hold")
    assert slack.command(f"queue release {held}").text == ""
    [ts] = fake_slack.wait_for(parents)
    assert fake_slack.messages[ts]["text"] == f":white_check_mark: Done: Release 1 message ({held}) from hold"
    [thread] = fake_slack.wait_for(lambda s: s.thread(ts))
    details = readable(thread.args)
    assert "• queue command done" in details
    assert f'*Read back from mailcow*: {held}: "hold" → "deferred"' in details
    [sent] = fake_mailcow.calls("edit/mailq")
    assert sent.json_body == {"items": [held], "attr": {"action": "unhold"}}
    assert fake_mailcow.queue.rows[held]["queue_name"] == "deferred"
    assert services.store is not None
    [entry] = [e for e in services.store.audit_entries(5) if e.event == "execution"]
    assert (entry.user_id, entry.channel_id, entry.target, entry.outcome) == (
        OPERATOR,
        ALLOWED,
        "queue",
        "done",
    )
    assert f'POST /api/v1/edit/mailq {{"items": ["{held}"], "attr": {{"action": "unhold"}}}}' in entry.detail


def test_a_viewer_may_not_release(slack: SlackDriver, fake_mailcow: FakeMailcow) -> None:
    held = queued(fake_mailcow, "hold")
    answer = slack.command(f"queue release {held}", user=VIEWER).json()
    assert "needs an operator" in answer["text"]
    assert fake_mailcow.writes() == []


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("queue hold", "name at least one queue ID"),
        ("queue hold not-hex", "`not-hex` is not a Postfix queue ID"),
        ("queue delete 0000000001", "not in the mail queue (any more): `0000000001`"),
        ("queue release 0000000001", "not in the mail queue (any more): `0000000001`"),
        ("queue flush 3F2A1B9C0D", "unexpected argument `3F2A1B9C0D`"),
        ("queue flush now=yes", "unknown option `now=`"),
    ],
)
def test_wrong_queue_actions_are_explained_and_nothing_runs(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    slack.command(typed)
    [answer] = wait_told(fake_slack, "That command is not quite right.")
    blocks = next(c for c in fake_slack.ephemerals()).args.get("blocks") or []
    assert told in readable({"blocks": blocks}), readable({"blocks": blocks})
    assert answer
    assert fake_mailcow.writes() == []
    assert parents(fake_slack) == []


def test_the_queue_state_reader_counts_whole_queues_and_finds_listed_messages(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    held = queued(fake_mailcow, "hold")
    state = queue_state(mailcow_client, "")
    assert state["total"] == len(fake_mailcow.queue.rows)
    assert state["hold"] == sum(r["queue_name"] == "hold" for r in fake_mailcow.queue.rows.values())
    assert set(state) == {"total", "active", "deferred", "hold", "incoming", "maildrop"}
    assert queue_state(mailcow_client, f"{held},0000000001") == {held: "hold", "0000000001": NOT_QUEUED}
