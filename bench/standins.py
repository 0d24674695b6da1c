"""The Slack and mailcow stand-ins from `tests/fakes`, in a process of their own, driven over a pipe.

Their own process keeps their CPU time out of the load generator; the pipe lets the benchmark ask
what they saw (calls, timestamps) between measurements. Timestamps are `time.monotonic()`, one
system-wide clock on Linux, so they compare directly with the load generator's.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import GROUP, GROUP_MEMBER

APPROVE = "approval_approve"


class TimedMailcow(FakeMailcow):
    """The mailcow stand-in, also noting when it started and finished each answer (mailcow time)."""

    def __init__(self) -> None:
        super().__init__()
        self.timings: list[tuple[str, float, float]] = []

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, client_ip: str) -> Any:
        started = time.monotonic()
        reply = super().handle(method, raw_path, headers, body, client_ip)
        self.timings.append((raw_path, started, time.monotonic()))
        return reply


@dataclass(frozen=True)
class Post:
    """A call the Slack stand-in received: its method, when, and the thread it went to."""

    method: str
    at: float
    thread_ts: str | None


def _approval_buttons(slack: FakeSlack) -> list[tuple[str, str, str]]:
    """(approval id, channel, message ts) of every message that carries an Approve button."""
    found = []
    for message in list(slack.messages.values()):
        for block in message.get("blocks") or []:
            elements = (block.get("elements") or []) if block.get("type") == "actions" else []
            for element in elements:
                if element.get("action_id") == APPROVE:
                    found.append((str(element.get("value")), str(message["channel"]), str(message["ts"])))
    return found


def serve(conn: Connection) -> None:
    """Child process: start both stand-ins, send their URLs, then answer requests until `stop`."""
    slack = FakeSlack().start()
    slack.usergroups[GROUP] = [GROUP_MEMBER]
    mailcow = TimedMailcow()
    mailcow.seed_demo()
    mailcow.start()
    conn.send((slack.base, mailcow.url, mailcow.api_key))
    while True:
        command, argument = conn.recv()
        if command == "stop":
            break
        if command == "counts":
            conn.send((len(slack.calls), len(mailcow.timings)))
        elif command == "posts":
            conn.send([Post(c.method, c.at, c.args.get("thread_ts")) for c in slack.calls[argument:]])
        elif command == "mailcow":
            conn.send(mailcow.timings[argument:])
        elif command == "latency":
            mailcow.latency = float(argument)
            conn.send(None)
        elif command == "mailboxes":
            conn.send(len(mailcow.add_mailboxes("bench.example", int(argument))))
        elif command == "queue_items":
            conn.send(mailcow.add_queue_items(int(argument), queue_name="deferred"))
        elif command == "approvals":
            conn.send(_approval_buttons(slack))
        else:
            conn.send(ValueError(f"unknown command {command!r}"))
    mailcow.stop()
    slack.stop()
    conn.send(None)


class StandIns:
    """The load generator's handle on the stand-ins process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child,), name="bench-standins", daemon=True)
        self.process.start()
        self.slack_base, self.mailcow_url, self.mailcow_key = self._conn.recv()

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def counts(self) -> tuple[int, int]:
        """(Slack calls, mailcow requests) so far: marks to read what came after."""
        slack_calls, mailcow_requests = self._ask("counts")
        return int(slack_calls), int(mailcow_requests)

    def posts(self, since: int) -> list[Post]:
        return list(self._ask("posts", since))

    def mailcow_timings(self, since: int) -> list[tuple[str, float, float]]:
        return list(self._ask("mailcow", since))

    def set_latency(self, seconds: float) -> None:
        self._ask("latency", seconds)

    def add_mailboxes(self, count: int) -> int:
        return int(self._ask("mailboxes", count))

    def add_queue_items(self, count: int) -> list[str]:
        """`count` more deferred messages; returns their queue ids."""
        return list(self._ask("queue_items", count))

    def approval_buttons(self) -> list[tuple[str, str, str]]:
        return list(self._ask("approvals"))

    def quiesce(self, *, still: float = 0.15, timeout: float = 30.0) -> None:
        """Wait until neither stand-in has seen a request for `still` seconds (lazy work drained)."""
        deadline = time.monotonic() + timeout
        last = self.counts()
        settled_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.03)
            now = self.counts()
            if now != last:
                last, settled_since = now, time.monotonic()
            elif time.monotonic() - settled_since >= still:
                return

    def stop(self) -> None:
        if self.process.is_alive():
            self._ask("stop")
        self.process.join(timeout=10)
