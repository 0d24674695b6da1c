"""Two real app processes sharing one database (SQLite file, then PostgreSQL), one Slack stand-in and
one mailcow stand-in, driven over HTTP with signed requests, the way two replicas behind a load
balancer are.

Each replica is `tests/replica.py`: `serve` as in production, with its clock read from a file this
test moves forward, so expiry and stale heartbeats need no waiting. The replicas live for the whole
module per database; the tests run in order and each leaves two replicas running (the last one
kills one for good).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.plans import STALE_AFTER
from bot.store import database_url
from tests.fakes.db_plugin import POSTGRES_SERVER, race_in_threads
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import (
    ALLOWED,
    APPROVER,
    APPROVER_2,
    BOT_TOKEN,
    OPERATOR,
    SIGNING_SECRET,
    SlackDriver,
    http_transport,
)
from tests.test_approvals import DEFAULT_TTL, buttons, parents, shown, wait_shown

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    driver: SlackDriver
    log: Path

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=10)


class Cluster:
    """The stand-ins, the shared clock and database, and the replicas that use them."""

    def __init__(self, database: str, workdir: Path) -> None:
        self.slack = FakeSlack().start()
        self.mailcow = FakeMailcow().start()
        self.mailcow.seed_demo()
        self.workdir = workdir
        self.clock_file = workdir / "clock"
        self.now = 1_750_000_000.0
        self.advance(0)
        self.database = database
        self.replicas: dict[str, Replica] = {}

    def advance(self, seconds: float) -> None:
        """Move every replica's clock; written whole and renamed, so a reader never sees half."""
        self.now += seconds
        partial = self.clock_file.with_suffix(".tmp")
        partial.write_text(repr(self.now))
        partial.replace(self.clock_file)

    def environment(self) -> dict[str, str]:
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MAILCOW_", "CHATOPS_"))
        }
        return inherited | {
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.url,
            "MAILCOW_URL": self.mailcow.url,
            "MAILCOW_API_KEY": self.mailcow.api_key,
            "MAILCOW_TIMEOUT": "2",
            "CHATOPS_ALLOWED_CHANNELS": ALLOWED,
            "CHATOPS_OPERATORS": f"{OPERATOR},{APPROVER},{APPROVER_2}",
            "CHATOPS_APPROVERS": f"{APPROVER},{APPROVER_2}",
            "CHATOPS_DATABASE_URL": self.database,
            "CHATOPS_LOG_FORMAT": "text",
        }

    def start(self, *names: str) -> None:
        """Start replicas together and wait until each answers /healthz."""
        for name in names:
            port = free_port()
            log = self.workdir / f"{name}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.replica", str(port), str(self.clock_file)],
                cwd=self.workdir,
                env=self.environment(),
                stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
            url = f"http://127.0.0.1:{port}"
            driver = SlackDriver(http_transport(f"{url}/slack/events"), self.slack)
            self.replicas[name] = Replica(name, process, url, driver, log)
        for name in names:
            self.wait_ready(self.replicas[name])

    def wait_ready(self, replica: Replica) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if replica.process.poll() is not None:
                raise AssertionError(f"{replica.name} exited: {replica.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{replica.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"{replica.name} did not become ready: {replica.log.read_text()[-2000:]}")

    def ask(self, replica: str, text: str) -> tuple[str, str]:
        """`/mailcow text` through `replica`; returns the request message's ts and the approval id."""
        seen = len(parents(self.slack))
        assert self.replicas[replica].driver.command(text).text == ""
        ts = self.slack.wait_for(lambda s: len(p := parents(s)) > seen and p[seen])
        return ts, buttons(self.slack.messages[ts])["approval_approve"]["value"]

    def close(self) -> None:
        for replica in self.replicas.values():
            replica.stop(signal.SIGKILL)
        self.mailcow.stop()
        self.slack.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    schema = f"chatops_test_{secrets.token_hex(6)}"
    with postgres_server.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = database_url(POSTGRES_SERVER).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with postgres_server.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


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
