"""The app served over HTTP, as Slack reaches it: signatures, replays, health, metrics, odd input."""

from __future__ import annotations

import json
import time
import urllib.parse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.reading import parents
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, RunningServer, SlackDriver


def test_signed_queue_command_acks_fast_and_posts_summary_in_a_thread(
    http_slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    started = time.perf_counter()
    answer = http_slack.command("queue")
    elapsed = time.perf_counter() - started
    assert answer.status == 200
    assert elapsed < 1.0, f"ack took {elapsed:.3f} s"
    parent = fake_slack.wait_for(lambda s: s.posts(ALLOWED) and s.posts(ALLOWED)[0])
    assert parent.args["text"].startswith("Mail queue: *6* messages")
    thread = fake_slack.wait_for(lambda s: len(s.thread(parents(s)[0])) >= 2 and s.thread(parents(s)[0]))
    details = json.dumps(thread[0].args["blocks"])
    assert "Top deferral reasons" in details
    assert "Top recipient domains" in details


def test_tampered_signature_is_rejected(http_slack: SlackDriver, fake_slack: FakeSlack) -> None:
    body = urllib.parse.urlencode(
        {"command": "/mailcow", "text": "queue", "user_id": "U0OPER", "channel_id": ALLOWED}
    )
    headers = http_slack.signed_headers(body, "application/x-www-form-urlencoded")
    tampered = body.replace("queue", "queux")
    answer = http_slack.transport(tampered, headers)
    assert answer.status == 401
    time.sleep(0.2)
    assert fake_slack.posts() == []


def test_replayed_timestamp_is_rejected(http_slack: SlackDriver, fake_slack: FakeSlack) -> None:
    body = urllib.parse.urlencode(
        {"command": "/mailcow", "text": "queue", "user_id": "U0OPER", "channel_id": ALLOWED}
    )
    old = int(time.time()) - 10 * 60
    answer = http_slack.post(body, timestamp=old)
    assert answer.status == 401
    time.sleep(0.2)
    assert fake_slack.posts() == []


def test_healthz_and_metrics(
    http_server: RunningServer, http_slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    health = httpx.get(f"{http_server.url}/healthz")
    assert health.status_code == 200
    assert health.json()["ready"] is True
    http_slack.command("queue")
    fake_slack.wait_for(lambda s: s.posts(ALLOWED))
    text = httpx.get(f"{http_server.url}/metrics").text
    assert 'chatops_commands_total{area="queue",outcome="ok",verb="show"}' in text
    assert "chatops_ack_seconds_bucket" in text


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("", "application/x-www-form-urlencoded"),
        ("payload=not-json", "application/x-www-form-urlencoded"),
        ("payload=%7B%7D", "application/x-www-form-urlencoded"),
        ('{"type": "block_actions"}', "application/json"),
        ('{"type": "view_submission", "view": {}}', "application/json"),
        ("\x00\xff garbage", "text/plain"),
        ('{"type": "event_callback", "event": {"type": "app_home_opened"}}', "application/json"),
    ],
)
def test_odd_signed_bodies_never_get_5xx(http_slack: SlackDriver, body: str, content_type: str) -> None:
    answer = http_slack.post(body, content_type)
    assert answer.status < 500, answer


def test_unsigned_garbage_is_401(http_server: RunningServer) -> None:
    answer = httpx.post(
        f"{http_server.url}/slack/events", content=b"payload=%7B", headers={"content-type": "x"}
    )
    assert answer.status_code == 401


words = st.sampled_from(
    [
        "queue",
        "show",
        "mailbox",
        "list",
        "help",
        "ban",
        "logs",
        "domain",
        "flush",
        "delete",
        "x=1",
        "from=",
        "<mailto:a@b.c|a@b.c>",
        "&lt;",
        '"',
        "'",
        "--",
        "\u201cq\u201d",
        "1.2.3.4",
        "::1",
        "all",
        "…",
        "\n",
    ]
)
texts = st.one_of(st.text(max_size=80), st.lists(words, max_size=6).map(" ".join))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_any_command_text_gets_an_answer_never_a_500(
    slack: SlackDriver, fake_slack: FakeSlack, text: str
) -> None:
    """Random text: the ack is 200 and, unless refused inline, the person always hears back."""
    before = len(fake_slack.calls)
    answer = slack.command(text)
    assert answer.status == 200
    if answer.text:
        assert answer.json()["response_type"] == "ephemeral"
        return
    fake_slack.wait_for(
        lambda s: any(
            c.method in {"chat.postMessage", "response_url", "chat.postEphemeral"} for c in s.calls[before:]
        ),
        timeout=10,
    )
    assert "Traceback" not in fake_slack.all_text()
