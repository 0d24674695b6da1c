"""The app as the approval, watch and fault tests run it: time moved by hand, no background thread.

Time is the `clock` fixture (a `FakeClock`) injected into the services, and the background jobs run
when a test calls `services.scheduler.run_pending()` (`tick`), so nothing waits for a wall clock. A
test module takes these fixtures by binding them to its own names, which is how pytest finds them
there (an import would look unused to the linter):

    services, bolt_app = manual_app.services, manual_app.bolt_app

The watch tests also bind `watch_clock`, a clock that starts at the wall-clock time, as `clock`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_bolt import App

from bot.app import build_app, build_services
from bot.services import Services
from bot.settings import Settings
from tests.fakes.db_plugin import FakeClock
from tests.fakes.reading import parents
from tests.fakes.slack import FakeSlack, SlackCall
from tests.fakes.slack_plugin import shut_down

INTERVAL = 60.0  # CHATOPS_WATCH_INTERVAL's default


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(name="clock")
def watch_clock() -> FakeClock:
    """A clock that starts at the wall-clock time: the queue stand-in stamps messages with it, and the
    watches measure their age by the services' clock."""
    return FakeClock(float(int(time.time())))


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    built = build_services(settings, clock=clock)
    yield built
    shut_down(built)


@pytest.fixture
def bolt_app(services: Services) -> App:
    return build_app(services, background=False)


BOTH_DATABASES = pytest.mark.parametrize(
    "settings_overrides", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


# --- background jobs ---------------------------------------------------------------------------------


@dataclass
class Round:
    """What one polling round did in Slack."""

    posted: list[str]
    """Timestamps of new channel-level messages (alerts)."""
    updated: list[str]
    """Timestamps of messages redrawn with chat.update."""
    threaded: list[SlackCall]


def tick(services: Services, clock: FakeClock, fake_slack: FakeSlack, seconds: float = INTERVAL) -> Round:
    """Move the clock and run what is due, as the scheduler thread would."""
    seen, before = len(fake_slack.calls), set(parents(fake_slack))
    clock.advance(seconds)
    services.scheduler.run_pending()
    calls = fake_slack.calls[seen:]
    return Round(
        posted=[ts for ts in parents(fake_slack) if ts not in before],
        updated=[str(c.args["ts"]) for c in calls if c.method == "chat.update"],
        threaded=[c for c in calls if c.method == "chat.postMessage" and c.args.get("thread_ts")],
    )
