"""The audit trail: every command, refusal, approval, denial, expiry and execution is recorded with
who, where, the target, the outcome and timings, never a secret; `/mailcow audit` shows it and
`/mailcow audit export` attaches it as CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bot.services import Services
from bot.store import AuditEntry
from tests.fakes import manual_app
from tests.fakes.approval_plugin import DEFAULT_TTL, Ask
from tests.fakes.db_plugin import CLOSED_PORT_DB, FakeClock
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import parents, readable, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import (
    ALLOWED,
    APPROVER,
    BOT_TOKEN,
    ELSEWHERE,
    OPERATOR,
    SIGNING_SECRET,
    VIEWER,
    SlackDriver,
)

# The app with an injected clock and no background thread (tests/fakes/manual_app.py).
services, bolt_app = manual_app.services, manual_app.bolt_app


def entries(services: Services) -> list[AuditEntry]:
    assert services.store is not None
    return list(reversed(services.store.audit_entries(1000)))


def recorded(fake_slack: FakeSlack, services: Services, event: str, count: int) -> list[AuditEntry]:
    """Wait until `count` entries of `event` are in the trail (commands are recorded in the background)."""
    return list(
        fake_slack.wait_for(
            lambda _: len(found := [e for e in entries(services) if e.event == event]) >= count and found
        )
    )


def test_every_command_is_recorded_with_who_where_what_and_how_long(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, ask: Ask
) -> None:
    slack.command("queue show domain=example.org", user=VIEWER)
    fake_slack.wait_for(parents)
    ask("queue flush")
    slack.command("queue frobnicate")

    commands = recorded(fake_slack, services, "command", 3)
    assert {(e.user_id, e.channel_id, e.area, e.verb, e.target, e.outcome) for e in commands} == {
        (VIEWER, ALLOWED, "queue", "show", "domain=example.org", "ok"),
        (OPERATOR, ALLOWED, "queue", "flush", "queue", "ok"),
        (OPERATOR, ALLOWED, "unknown", "unknown", "queue frobnicate", "unknown"),
    }
    assert all(e.duration_ms is not None and e.correlation_id != "" for e in commands)
    assert {e.detail for e in commands if e.verb == "flush"} == {"queue flush"}


def test_the_approval_lifecycle_is_recorded_with_its_request_id(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, ask: Ask, clock: FakeClock
) -> None:
    done = ask("queue flush")
    slack.click("approval_approve", done.id, user=APPROVER)
    wait_shown(fake_slack, done.ts, "*Done:*")
    expired = ask('queue flush reason="again"')
    clock.advance(DEFAULT_TTL)
    services.scheduler.run_pending()

    trail = [(e.event, e.outcome, e.user_id, e.approval_id) for e in entries(services) if e.approval_id]
    assert trail == [
        ("request", "pending", OPERATOR, done.id),
        ("approval", "approved", APPROVER, done.id),
        ("start", "running", APPROVER, done.id),
        ("execution", "done", APPROVER, done.id),
        ("request", "pending", OPERATOR, expired.id),
        ("expiry", "expired", "", expired.id),
    ]
    execution = next(e for e in entries(services) if e.event == "execution")
    assert execution.target == "queue" and execution.duration_ms is not None
    assert execution.detail.startswith("queue command done · read back: ")


def test_refusals_by_the_guard_are_recorded_without_delaying_the_answer(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services
) -> None:
    answer = slack.command("mailbox password alice@example.org password=Hunter22-secret", channel=ELSEWHERE)
    assert "not an allowed channel" in answer.json()["text"]
    assert services.store is not None
    store = services.store
    [refusal] = fake_slack.wait_for(lambda _: store.audit_entries(5, user_id=OPERATOR))
    assert (refusal.event, refusal.channel_id, refusal.outcome) == ("refusal", ELSEWHERE, "refused")
    assert refusal.detail.startswith(
        "command /mailcow mailbox password alice@example.org password=[redacted]"
    )
    assert "Hunter22-secret" not in refusal.detail


def test_audit_lists_the_newest_entries_and_filters_by_user_and_target(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, ask: Ask
) -> None:
    ask("queue flush")
    slack.command("queue", user=VIEWER)
    fake_slack.wait_for(lambda s: len(parents(s)) == 2)
    recorded(fake_slack, services, "command", 2)

    def listing(text: str) -> tuple[str, str]:
        seen = len(parents(fake_slack))
        slack.command(text, user=VIEWER)
        ts = fake_slack.wait_for(lambda s: len(p := parents(s)) > seen and p[seen])
        [page] = fake_slack.wait_for(lambda s: s.thread(ts))
        return fake_slack.messages[ts]["text"], readable(page.args)

    headline, page = listing("audit 3")
    assert headline == "Audit trail: the newest 3 entries"
    assert f"*command* · `{VIEWER}` in `{ALLOWED}` · queue.show" in page
    assert "*request* · " in page and "queue.flush · `queue` · pending" in page

    headline, page = listing(f"audit user=<@{OPERATOR}> target=queue")
    assert headline == f"Audit trail: the newest 2 entries for user {OPERATOR} and target ~ queue"
    assert "queue.flush" in page and VIEWER not in page


def test_audit_export_attaches_the_trail_as_csv(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, ask: Ask
) -> None:
    ask("queue flush")
    recorded(fake_slack, services, "command", 1)
    slack.command("audit export target=queue", user=VIEWER)
    done = fake_slack.wait_calls("files.completeUploadExternal")[0]
    assert done.args["channel_id"] == ALLOWED
    assert "exported 2 audit entries for target ~ queue" in done.args["initial_comment"]
    [content] = fake_slack.uploads.values()
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [(r["event"], r["verb"], r["target"]) for r in rows] == [
        ("command", "flush", "queue"),
        ("request", "flush", "queue"),
    ]
    assert rows[0]["at"].endswith("+00:00")


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_DATABASE_URL": CLOSED_PORT_DB}], indirect=True)
def test_a_read_still_answers_when_the_audit_trail_cannot_be_written(
    slack: SlackDriver, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.command("queue", user=VIEWER)
    assert fake_slack.wait_for(parents)
    assert fake_slack.wait_for(lambda _: "command queue.show is not in the audit trail" in caplog.text)
    slack.command("audit", user=VIEWER)
    notice = fake_slack.wait_for(lambda s: s.ephemerals())[0].args["text"]
    assert "The audit trail lives in the bot's database, which is unavailable right now." in notice


def test_no_secret_reaches_the_audit_trail(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    request = ask('queue flush reason="token=xoxb-123-abc is not a secret we keep"')
    slack.click("approval_approve", request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    slack.command("queue show password=Hunter22-secret")
    recorded(fake_slack, services, "command", 2)

    stored = json.dumps([e.__dict__ for e in entries(services)])
    for secret in (fake_mailcow.api_key, BOT_TOKEN, SIGNING_SECRET, "Hunter22-secret", "xoxb-123-abc"):
        assert secret not in stored, secret
    assert "password=[redacted]" in stored
