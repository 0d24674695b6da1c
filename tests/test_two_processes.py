"""Two real app processes sharing one database (SQLite file, then PostgreSQL), one Slack stand-in and
one mailcow stand-in, driven over HTTP with signed requests, the way two replicas behind a load
balancer are.

Each replica is `tests/replica.py`: `serve` as in production, with its clock read from a file this
test moves forward, so expiry and stale heartbeats need no waiting. The replicas live for the whole
module per database; the tests run in order and each leaves two replicas running (the last one
kills one for good).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bot.plans import STALE_AFTER
from tests.fakes.approval_plugin import DEFAULT_TTL
from tests.fakes.db_plugin import fresh_schema, race_in_threads
from tests.fakes.processes import Cluster
from tests.fakes.reading import shown, wait_shown
from tests.fakes.slack_plugin import (
    APPROVER,
    APPROVER_2,
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        database = f"sqlite:///{workdir / 'chatops.db'}"
    else:
        database = request.getfixturevalue("module_postgres_url")
    running = Cluster(database, workdir)
    try:
        running.start("a", "b")
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server: sa.Engine) -> Iterator[str]:
    """A fresh PostgreSQL schema for the module (the db plugin's `postgres_url` is one per test)."""
    with fresh_schema(postgres_server) as url:
        yield url


def test_twenty_clicks_spread_over_two_processes_run_the_action_once(cluster: Cluster) -> None:
    ts, approval = cluster.ask("a", "queue flush")
    drivers = [cluster.replicas["a"].driver, cluster.replicas["b"].driver]
    approvers = (APPROVER, APPROVER_2)
    answers = race_in_threads(
        20, lambda i: drivers[i % 2].click("approval_approve", approval, user=approvers[i % 2])
    )
    assert [a.status for a in answers] == [200] * 20
    wait_shown(cluster.slack, ts, "*Done:*")
    cluster.slack.wait_for(
        lambda s: len([c for c in s.ephemerals() if "Not approved: already" in str(c.args.get("text"))]) == 19
    )
    assert len(cluster.mailcow.calls("edit/mailq")) == 1


def test_after_a_restart_a_pending_request_is_approved_and_another_expires(cluster: Cluster) -> None:
    held, left = cluster.mailcow.add_queue_items(2, queue_name="deferred", seed=3)
    approved_ts, approved = cluster.ask("a", f"queue hold {held}")
    expiring_ts, _ = cluster.ask("a", f"queue hold {left}")

    cluster.replicas["a"].stop()
    cluster.start("a")
    cluster.replicas["a"].driver.click("approval_approve", approved, user=APPROVER)
    wait_shown(cluster.slack, approved_ts, "*Done:*")
    assert cluster.mailcow.queue.rows[held]["queue_name"] == "hold"

    cluster.advance(DEFAULT_TTL)
    assert "*Expired*" in wait_shown(cluster.slack, expiring_ts, "*Expired*")
    assert cluster.mailcow.queue.rows[left]["queue_name"] == "deferred"


def test_a_process_killed_while_running_an_action_is_marked_interrupted_by_the_other(
    cluster: Cluster,
) -> None:
    ts, approval = cluster.ask("a", "queue flush")
    writes_before = len(cluster.mailcow.calls("edit/mailq"))
    cluster.mailcow.stall_seconds = 30
    cluster.mailcow.fail_next("edit/mailq", "timeout")
    cluster.replicas["a"].driver.click("approval_approve", approval, user=APPROVER)
    wait_shown(cluster.slack, ts, "*Running:*")
    cluster.slack.wait_for(lambda _: len(cluster.mailcow.calls("edit/mailq")) > writes_before)

    cluster.replicas["a"].stop(signal.SIGKILL)
    cluster.advance(STALE_AFTER + 1)
    text = wait_shown(cluster.slack, ts, "*Interrupted:*")
    assert "the process running it stopped before reporting an outcome; check mailcow" in text
    assert "Running" not in shown(cluster.slack, ts)
