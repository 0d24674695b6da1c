"""The bot's database unavailable, end to end: read commands still answer; changes and approval
clicks are refused in plain words, and nothing reaches mailcow's write endpoints. A database that
comes back is used again; one that drops while an action runs must not lose that action's outcome.

"Down" is a PostgreSQL address where nothing listens: from start-up (CHATOPS_DATABASE_URL), or
swapped in under a running app (`Outage`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.approvals import State
from bot.approvals.blocks import APPROVE, DENY
from bot.plans import STALE_AFTER
from bot.services import Services
from bot.store import Store, create_engine
from tests.fakes import faults, manual_app
from tests.fakes.approval_plugin import Ask, Request, approval_state
from tests.fakes.db_plugin import CLOSED_PORT_DB, FakeClock
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import (
    parents,
    reply_to,
    shown,
    thread_text,
    told,
    wait_shown,
    wait_told,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, SlackDriver

settings_overrides, services, bolt_app = faults.settings_overrides, faults.services, manual_app.bolt_app
gate = faults.gate

REFUSED = (
    "The bot's database is unavailable, so changes and approvals are refused until it is back. "
    "Read commands still work."
)


class Outage:
    """Takes the bot's database away (`begin`: every call fails as if the server went away) and
    brings it back (`end`, also when the test ends)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.working = store.engine

    def begin(self) -> None:
        self.store.engine = create_engine(CLOSED_PORT_DB)

    def end(self) -> None:
        if self.store.engine is not self.working:
            self.store.engine.dispose()
            self.store.engine = self.working


@pytest.fixture
def outage(services: Services) -> Iterator[Outage]:
    assert services.store is not None
    down = Outage(services.store)
    yield down
    down.end()


@pytest.fixture
def flush_losing_its_database(
    slack: SlackDriver, fake_mailcow: FakeMailcow, ask: Ask, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> Request:
    """A flush, asked for and approved, whose database goes away while mailcow flushes."""
    request = ask("queue flush")
    handle = fake_mailcow.handle

    def dropping(method: str, path: str, *args: Any) -> Any:
        if path.startswith("/api/v1/edit/mailq"):
            outage.begin()
        return handle(method, path, *args)

    monkeypatch.setattr(fake_mailcow, "handle", dropping)
    slack.click(APPROVE, request.id, user=APPROVER)
    return request


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_DATABASE_URL": CLOSED_PORT_DB}], indirect=True)
def test_without_the_database_reads_answer_and_changes_and_clicks_are_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    assert reply_to(slack, fake_slack, "queue", thread_messages=0, until="Mail queue:").headline.startswith(
        "Mail queue: *"
    )
    shown_box = reply_to(
        slack, fake_slack, "mailbox show alice@example.org", thread_messages=0, until="*Quota*"
    )
    assert shown_box.headline.startswith("`alice@example.org`")

    [held] = fake_mailcow.add_queue_items(1, queue_name="hold", seed=41)
    for text in ("queue flush", f"queue release {held}"):
        slack.command(text)
    for action_id in (APPROVE, DENY):
        slack.click(action_id, "a-request-id", user=APPROVER)
    refusals = wait_told(fake_slack, "The bot's database is unavailable", count=4)
    assert all(REFUSED in text for text in refusals)
    assert fake_mailcow.writes() == []
    assert len(parents(fake_slack)) == 2
    everything = fake_slack.all_text()
    assert "psycopg" not in everything and "port 1 failed" not in everything, "the database's own words"


def test_a_click_while_the_database_is_down_is_refused_and_works_once_it_is_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, *, outage: Outage, ask: Ask
) -> None:
    request = ask("queue flush")
    outage.begin()
    slack.click(APPROVE, request.id, user=APPROVER)
    [refusal] = wait_told(fake_slack, "The bot's database is unavailable")
    assert REFUSED in refusal
    assert reply_to(slack, fake_slack, "queue", thread_messages=0, until="Mail queue:")
    assert "Approval needed" in shown(fake_slack, request.ts)
    assert fake_mailcow.writes() == []

    outage.end()
    slack.click(APPROVE, request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    assert len(fake_mailcow.calls("edit/mailq")) == 1


def test_a_run_whose_outcome_could_not_be_recorded_is_not_left_running(
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    *,
    outage: Outage,
    clock: FakeClock,
    flush_losing_its_database: Request,
) -> None:
    request = flush_losing_its_database
    fake_slack.wait_for(lambda _: fake_mailcow.flushes == 1)
    fake_slack.wait_for(lambda s: told(s) or s.thread(request.ts))  # the run ended, and said so
    outage.end()
    assert approval_state(services, request.id) == State.RUNNING

    clock.advance(STALE_AFTER + 1)
    services.scheduler.run_pending()
    text = shown(fake_slack, request.ts)
    assert "*Interrupted:* Flush the mail queue" in text and "check mailcow before asking again" in text
    assert approval_state(services, request.id) == State.INTERRUPTED
    assert len(fake_mailcow.calls("edit/mailq")) == 1


def test_a_run_whose_database_drops_after_the_write_still_shows_mailcows_answer(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, flush_losing_its_database: Request
) -> None:
    request = flush_losing_its_database
    fake_slack.wait_for(lambda _: fake_mailcow.flushes == 1)
    fake_slack.wait_for(lambda s: "Done: Flush the mail queue" in thread_text(s, request.ts), timeout=1.0)
    assert not [text for text in told(fake_slack) if "are refused" in text]
