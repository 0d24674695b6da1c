"""Running the app as its own process: the environment, the command line, and replicas of `serve`.

`env_for` and `run_cli` start `python -m bot` as an operator would; a `Cluster` runs replicas of
`tests/replica.py` (`serve` as in production, its clock read from a file the test moves forward)
against one database and the two stand-ins, driven over HTTP with signed requests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import buttons, parents
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

ROOT = Path(__file__).resolve().parent.parent.parent


def env_for(fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment an operator sets for the stand-ins (nothing inherited but PATH), plus `extra`."""
    env = {
        "PATH": os.environ["PATH"],
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "MAILCOW_URL": fake_mailcow.url,
        "MAILCOW_API_KEY": fake_mailcow.api_key,
        "CHATOPS_ALLOWED_CHANNELS": ALLOWED,
        "CHATOPS_OPERATORS": OPERATOR,
        "CHATOPS_APPROVERS": APPROVER,
        "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` to its end (a minute at most), with `stdin` piped in."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
