"""Several replicas: exactly one polls the watches, and when it dies another takes over the same alert.

Two app instances (two `build_services`/`build_app`) share one database, the Slack and mailcow
stand-ins and one hand-moved clock, as two replicas behind a load balancer would (PostgreSQL is what
several replicas use; SQLite runs the same test). A replica "dies" by no longer running its rounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_bolt import App

from bot.app import build_app, build_services
from bot.services import Services
from bot.settings import Settings
from bot.watch import LEASE, LEASE_ROUNDS
from tests.fakes import manual_app
from tests.fakes.db_plugin import FakeClock, race_in_threads
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.manual_app import BOTH_DATABASES, INTERVAL, Round, tick
from tests.fakes.reading import say, shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import SlackDriver, dispatch_transport, shut_down

clock = manual_app.watch_clock


@dataclass
class Replica:
    services: Services
    app: App


@pytest.fixture
def replicas(settings: Settings, clock: FakeClock) -> Iterator[tuple[Replica, Replica]]:
    built = [build_services(settings, clock=clock) for _ in range(2)]
    try:
        first, second = (Replica(s, build_app(s, background=False)) for s in built)
        yield first, second
    finally:
        for services in built:
            shut_down(services)


def watch_deferred(replica: Replica, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> None:
    fake_mailcow.set_queue(deferred=3)
    slack = SlackDriver(dispatch_transport(replica.app), fake_slack)
    say(slack, fake_slack, "queue watch deferred=10 total=off age=off")


@BOTH_DATABASES
def test_one_replica_polls_and_another_takes_over_the_same_alert_when_it_dies(
    replicas: tuple[Replica, Replica], fake_slack: FakeSlack, fake_mailcow: FakeMailcow, clock: FakeClock
) -> None:
    a, b = replicas
    watch_deferred(b, fake_slack, fake_mailcow)  # configured through one replica, polled by either
    fake_mailcow.set_queue(deferred=12)
    [alert] = tick(a.services, clock, fake_slack).posted
    reads = len(fake_mailcow.calls("get/mailq"))
    assert tick(b.services, clock, fake_slack, 0) == Round([], [], [])
    assert len(fake_mailcow.calls("get/mailq")) == reads  # b did not even look

    # a dies. b takes over once a's lease has run out, and carries on a's alert message.
    fake_mailcow.add_queue_items(5, queue_name="deferred")
    for _ in range(int(LEASE_ROUNDS)):  # the rounds that fall inside a's lease
        assert tick(b.services, clock, fake_slack) == Round([], [], [])
    taken = tick(b.services, clock, fake_slack)
    assert (taken.posted, taken.updated) == ([], [alert])
    assert "deferred *17* (threshold 10)" in shown(fake_slack, alert)

    # a was only stalled: it comes back to a lease it no longer holds, and does nothing.
    assert tick(a.services, clock, fake_slack, 0) == Round([], [], [])

    fake_mailcow.set_queue(deferred=2)
    recovered = tick(b.services, clock, fake_slack)
    assert recovered.posted == [] and recovered.updated == [alert]
    [line] = recovered.threaded
    assert line.args["thread_ts"] == alert
    assert "*Mail queue recovered*" in shown(fake_slack, alert)
    store = b.services.store
    assert store is not None
    assert [e.outcome for e in store.audit_entries(20) if e.event == "watch"] == ["recovered", "incident"]


@BOTH_DATABASES
def test_replicas_polling_at_the_same_moment_post_one_alert(
    replicas: tuple[Replica, Replica], fake_slack: FakeSlack, fake_mailcow: FakeMailcow, clock: FakeClock
) -> None:
    a, b = replicas
    watch_deferred(a, fake_slack, fake_mailcow)
    fake_mailcow.set_queue(deferred=12)
    reads = len(fake_mailcow.calls("get/mailq"))
    for _ in range(3):
        clock.advance(INTERVAL)
        race_in_threads(2, lambda i: (a, b)[i].services.scheduler.run_pending())
    assert len(fake_mailcow.calls("get/mailq")) - reads == 3  # one poll per round, never two
    alerts = [
        c for c in fake_slack.calls_to("chat.postMessage") if "over threshold" in str(c.args.get("text"))
    ]
    assert len(alerts) == 1
    store = a.services.store
    assert store is not None and store.lease_holder(LEASE) is not None
