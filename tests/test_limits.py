"""Big installations stay inside Slack's limits: 5,000 mailboxes, 10,000 queued messages, 1,000 log lines.

Each list arrives as messages Slack accepts (the stand-in refuses oversize ones and records a
violation), pages with a working Next button, and comes whole as CSV.
"""

from __future__ import annotations

import csv
import io
import json

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, readable
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import SlackDriver

# --- the limits ----------------------------------------------------------------------------------


def _assert_slack_would_accept_every_message(fake_slack: FakeSlack) -> None:
    assert fake_slack.violations == []
    for post in [*fake_slack.posts(), *fake_slack.calls_to("chat.update")]:
        blocks = post.args.get("blocks") or []
        assert len(blocks) <= 50
        for block in blocks:
            if block["type"] == "section":
                assert len(block.get("text", {}).get("text", "")) <= 3000
                assert len(block.get("fields") or []) <= 10


def _turn_to_page_2(slack: SlackDriver, fake_slack: FakeSlack, title: str) -> str:
    """Click Next on the listing titled `title`; the text of the message after Slack updated it."""
    ts, message = next((ts, m) for ts, m in sorted(fake_slack.messages.items()) if title in readable(m))
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    value = next(e["value"] for e in buttons if e["action_id"] == "page_next")
    assert json.loads(value)["page"] == 2
    slack.click("page_next", value, message_ts=ts)
    update = fake_slack.wait_calls("chat.update")[0]
    assert update.args["ts"] == ts
    return readable(update.args)


def _csv_rows(fake_slack: FakeSlack) -> list[list[str]]:
    fake_slack.wait_for(lambda s: s.uploads)
    (content,) = fake_slack.uploads.values()
    return list(csv.reader(io.StringIO(content.decode())))


def test_5000_mailboxes_page_and_export(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_mailboxes("big.example", 5000)
    slack.command("mailbox list big.example")
    reply = answer(fake_slack, "Page 1 of 200")
    assert reply.headline.startswith("*5,000 mailboxes* in `big.example`")
    rows = _csv_rows(fake_slack)
    assert len(rows) == 5001
    assert rows[0][0] == "address"
    assert rows[1][0] == "user000000@big.example"
    page_2 = _turn_to_page_2(slack, fake_slack, "Mailboxes in big.example")
    assert "Page 2 of 200 · 26–50 of 5,000" in page_2
    assert "user000025@big.example" in page_2
    _assert_slack_would_accept_every_message(fake_slack)


def test_10000_queued_messages_page_and_export(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_queue_items(10_000)
    total = len(fake_mailcow.queue)
    slack.command("queue")
    reply = answer(fake_slack, "Page 1 of")
    assert f"*{total:,}* messages" in reply.headline
    assert len(_csv_rows(fake_slack)) == total + 1
    assert "Page 2 of" in _turn_to_page_2(slack, fake_slack, "Messages, oldest first")
    _assert_slack_would_accept_every_message(fake_slack)


def test_1000_log_lines_page_and_export(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    for n in range(1000):
        fake_mailcow.add_log(
            "postfix",
            {
                "priority": "info",
                "program": "postfix/smtp",
                "message": f"{n:05X}: to=<x{n}@example.net> " + "x" * 400,
            },
        )
    slack.command("logs postfix 1000")
    answer(fake_slack, "Page 1 of 40")
    rows = _csv_rows(fake_slack)
    assert len(rows) == 1001
    assert rows[1][3].startswith("003E7:")  # newest first
    assert "Page 2 of 40" in _turn_to_page_2(slack, fake_slack, "postfix log")
    _assert_slack_would_accept_every_message(fake_slack)
