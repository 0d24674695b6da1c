"""`mailcow-chatops serve` with worker processes (bot/workers.py), as a real subprocess against the
Slack and mailcow stand-ins: the ack in the serving process and the lazy work in a worker under the
same correlation id, metrics added up, a killed worker replaced, the scheduler in exactly one
process, and a stop that finishes acked work. What a full backlog answers is tested in process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_app
from bot.approvals.blocks import DENY_REASON
from bot.render import PAGE_NEXT, pager_value
from bot.services import Services
from bot.settings import Settings
from bot.workers import BACKLOG, WorkerPool, hand_off
from tests.fakes.forms import fill, opened
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.processes import env_for, free_port
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, OPERATOR, SlackDriver, dispatch_transport, http_transport


class Served:
    """`python -m bot serve` with its log in a file (JSON lines), and a driver that signs requests."""

    def __init__(self, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, workdir: Path, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "serve.log"
        environment = env_for(
            fake_slack, fake_mailcow, workdir, CHATOPS_WORKERS="2", CHATOPS_LOG_LEVEL="DEBUG", **env
        )
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(port)],
                env=environment,
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.driver = SlackDriver(http_transport(f"{self.url}/slack/events"), fake_slack)
        self.wait(lambda health: health["workers"]["ready"] == 2, timeout=60)

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()  # type: ignore[no-any-return]

    def wait(self, condition: Any, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.log.read_text()[-3000:]}")
            try:
                health = self.health()
                if condition(health):
                    return health
            except (httpx.TransportError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; log: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith('{"ts"'):
                found.append(json.loads(line))
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[FakeSlack, FakeMailcow]]:
    slack, mailcow = FakeSlack().start(), FakeMailcow().start()
    mailcow.seed_demo()
    yield slack, mailcow
    mailcow.stop()
    slack.stop()


@pytest.fixture(scope="module")
def served(
    standins: tuple[FakeSlack, FakeMailcow], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    server = Served(*standins, tmp_path_factory.mktemp("served"))
    yield server
    server.stop()


def ask_queue(served: Served, slack: FakeSlack, **headers: str) -> None:
    """A signed `/mailcow queue`, with any extra headers; waits for its answer and thread."""
    seen = len(parents(slack))
    n = time.monotonic_ns()
    body = urllib.parse.urlencode(
        {
            "command": "/mailcow",
            "text": "queue",
            "user_id": OPERATOR,
            "channel_id": ALLOWED,
            "team_id": "T0TEAM",
            "response_url": slack.response_url(f"w{n}"),
            "trigger_id": f"trigger.{n}",
        }
    )
    signed = served.driver.signed_headers(body, "application/x-www-form-urlencoded")
    answer = served.driver.transport(body, signed | headers)
    assert (answer.status, answer.text) == (200, "")
    ts = slack.wait_for(lambda s: len(p := parents(s)) > seen and p[seen], timeout=10)
    slack.wait_for(lambda s: s.thread(ts), timeout=10)


def parents(slack: FakeSlack) -> list[str]:
    return [ts for ts, m in list(slack.messages.items()) if not m["thread_ts"] and m["channel"] == ALLOWED]


def test_the_ack_is_served_and_the_work_runs_in_a_worker_under_the_same_reference(
    served: Served, standins: tuple[FakeSlack, FakeMailcow]
) -> None:
    slack, _ = standins
    ask_queue(served, slack)
    time.sleep(0.2)
    lines = served.lines()
    handed = [e for e in lines if "Running lazy listener: run_slash_command" in e["msg"]]
    assert handed and all("worker" not in e for e in handed), "the ack process hands the work on"
    cid = handed[-1]["cid"]
    ran = [e for e in lines if e["cid"] == cid and e["msg"].startswith("command queue.show")]
    assert len(ran) == 1, lines
    assert ran[0]["worker"] in {0, 1}


def test_a_reference_sent_from_outside_is_not_taken(
    served: Served, standins: tuple[FakeSlack, FakeMailcow]
) -> None:
    """Only the serving process sets the internal headers; from outside they are dropped (had the
    lazy-only ones been honoured, there would have been no ack and the work would run in the ack)."""
    slack, _ = standins
    ask_queue(
        served,
        slack,
        **{
            "x-chatops-correlation-id": "deadbeef",
            "x-slack-bolt-lazy-only": "1",
            "x-slack-bolt-lazy-function-name": "run_slash_command",
        },
    )
    time.sleep(0.2)
    assert not [e for e in served.lines() if e["cid"] == "deadbeef"]


def test_metrics_add_up_the_workers(served: Served) -> None:
    def shown() -> float:
        text = httpx.get(f"{served.url}/metrics").text
        counts = [
            line.rpartition(" ")[2]
            for line in text.splitlines()
            if line.startswith('chatops_commands_total{area="queue",outcome="ok",verb="show"}')
        ]
        return float(counts[0]) if counts else 0.0

    deadline = time.monotonic() + 5
    while shown() < 2 and time.monotonic() < deadline:  # workers report every second
        time.sleep(0.1)
    assert shown() == 2
    text = httpx.get(f"{served.url}/metrics").text
    assert text.count("# TYPE chatops_commands_total counter") == 1
    assert "chatops_ack_seconds_bucket" in text


def test_a_killed_worker_is_replaced_and_commands_keep_working(
    served: Served, standins: tuple[FakeSlack, FakeMailcow]
) -> None:
    slack, _ = standins
    for _ in range(2):  # idle, each in turn: one of them is usually waiting for work when killed
        before = served.health()["workers"]["pids"]
        os.kill(before[0], signal.SIGKILL)
        after = served.wait(
            lambda h, gone=before[0]: h["workers"]["ready"] == 2 and gone not in h["workers"]["pids"]
        )
        assert len(after["workers"]["pids"]) == 2
        ask_queue(served, slack)
    # the worker says `done` just after it posts the thread, so wait for the count to come back
    health = served.wait(lambda h: h["queue"]["running"] == 0)
    assert health["queue"] == {"waiting": 0, "running": 0, "limit": BACKLOG, "refused": 0}


def test_a_form_that_passed_its_checks_is_carried_out_in_a_worker(
    served: Served, standins: tuple[FakeSlack, FakeMailcow]
) -> None:
    """The ack's verdict on a form reaches the worker (`x-chatops-ack-note`): without it the worker
    would take the submission for one answered with errors, and silently do nothing."""
    slack, mailcow = standins
    view = opened(served.driver, slack, "alias add", "alias_create")
    address = f"oncall{time.monotonic_ns()}@example.org"
    assert served.driver.submit(fill(view, address=address, goto="alice@example.org")).text == ""
    slack.wait_for(lambda _: any(c.json_body.get("address") == address for c in mailcow.calls("add/alias")))
    slack.wait_for(
        lambda s: [m for m in list(s.messages.values()) if address in str(m) and "Read back" in str(m)],
        timeout=10,
    )


def test_the_scheduler_runs_in_exactly_one_process_and_a_stop_finishes_acked_work(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    """With the database unreachable every round of the background jobs logs that it was skipped,
    so the log shows which processes run them."""
    served = Served(
        fake_slack, fake_mailcow, tmp_path, CHATOPS_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"
    )

    def rounds() -> list[dict[str, Any]]:
        return [e for e in served.lines() if e["msg"].startswith("background job approvals.expire")]

    try:
        deadline = time.monotonic() + 10
        while not rounds() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # had another process run them, it would have started at the same time
        assert rounds(), served.log.read_text()[-3000:]
        assert {e.get("worker") for e in rounds()} == {0}

        fake_mailcow.latency = 1.5
        served.driver.command("queue")
        fake_slack.wait_for(lambda _: fake_mailcow.calls("get/mailq"), timeout=10)
        pids = served.health()["workers"]["pids"]
        served.process.terminate()
        fake_slack.wait_for(lambda s: s.posts(ALLOWED), timeout=10)  # acked before the stop: finished
        served.process.wait(timeout=30)
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        served.stop()


def test_a_full_backlog_tells_the_person_at_once_and_starts_nothing(
    services: Services, settings: Settings, fake_slack: FakeSlack
) -> None:
    app = build_app(services, background=False)
    pool = WorkerPool(settings, 1, backlog=0)  # never started, and no room: every job is refused
    hand_off(app, pool, services.executor)
    driver = SlackDriver(dispatch_transport(app), fake_slack)

    answer = driver.command("queue")
    assert answer.json()["response_type"] == "ephemeral"
    assert "too busy to start this now" in answer.json()["text"]
    assert "nothing was done" in answer.json()["text"]

    assert driver.click(PAGE_NEXT, pager_value("queue", 2)).status == 200
    told = fake_slack.wait_for(lambda s: s.ephemerals())
    assert "too busy" in told[0].args["text"]

    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": DENY_REASON,
        "private_metadata": json.dumps({"channel": ALLOWED, "approval": "a1"}),
        "blocks": [{"type": "input", "block_id": "reason", "element": {"type": "plain_text_input"}}],
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "no"}}}},
    }
    answer = driver.submit(view)
    assert answer.json()["response_action"] == "errors"
    assert "too busy" in answer.json()["errors"]["reason"]

    assert pool.health()["queue"]["refused"] == 3
    assert fake_slack.posts() == []
    pool.stop()
