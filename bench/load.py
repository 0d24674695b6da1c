"""The load generator: signed Slack requests, one new TCP connection each, in a closed loop.

Raw asyncio streams instead of an HTTP client library: on two shared cores every microsecond the
generator spends per request is taken from the servers it measures. Latency is measured from before
the connect to the last byte of the response.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, APPROVER, Answer, SlackDriver

HOST = "127.0.0.1"


@dataclass
class Sample:
    """Latencies (seconds) of the requests of one or more runs, the wall time they took, and the CPU
    time the server spent on them: in all (lazy work included, in whichever process) and in the
    serving process alone (`ack_cpu`)."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    cpu: float = 0.0
    ack_cpu: float = 0.0

    def add(self, other: Sample) -> None:
        self.latencies.extend(other.latencies)
        self.elapsed += other.elapsed
        self.errors += other.errors
        self.cpu += other.cpu
        self.ack_cpu += other.ack_cpu

    def quantile(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def rate(self) -> float:
        """Completed requests per second of wall time."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the value at least `q` of the sample is at or below."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


class SlackAddresses(FakeSlack):
    """A FakeSlack that is never started: it only lends `SlackDriver` the stand-in's response URLs."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = base

    @property
    def base(self) -> str:
        return self._base


class Payloads:
    """Builds and signs the requests Slack would send, with `SlackDriver` from the test fixtures.

    Each request is fresh (its own timestamp, trigger id and response URL), like Slack's.
    """

    def __init__(self, slack_base: str) -> None:
        self._captured: list[bytes] = []
        self._driver = SlackDriver(self._capture, SlackAddresses(slack_base))

    def _capture(self, body: str, headers: dict[str, str]) -> Answer:
        encoded = body.encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._captured.append(
            (
                f"POST /slack/events HTTP/1.1\r\nhost: {HOST}\r\n{head}"
                f"content-length: {len(encoded)}\r\nconnection: close\r\n\r\n"
            ).encode()
            + encoded
        )
        return Answer(0, "")

    def _take(self) -> bytes:
        return self._captured.pop()

    def command(self, text: str) -> bytes:
        self._driver.command(text)
        return self._take()

    def approve(self, approval: tuple[str, str, str]) -> bytes:
        value, channel, message_ts = approval
        self._driver.click("approval_approve", value, user=APPROVER, channel=channel, message_ts=message_ts)
        return self._take()

    def suggest(self, action_id: str, typed: str) -> bytes:
        """An options request from a modal opened in the allowed channel, by a user with every role."""
        view = {"id": "VBENCH", "callback_id": "bench", "private_metadata": f'{{"channel": "{ALLOWED}"}}'}
        self._driver.suggest(action_id, typed, view=view, user=APPROVER, channel=ALLOWED)
        return self._take()


async def exchange(port: int, request: bytes) -> tuple[float, int, bytes]:
    """One request on a new connection: (seconds from connect to the full response, status, body)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        return time.perf_counter() - started, status, body
    finally:
        writer.close()


async def _closed_loop(port: int, requests: Iterable[bytes], concurrency: int) -> Sample:
    sample = Sample()
    pending = iter(requests)

    async def worker() -> None:
        for request in pending:
            try:
                latency, status, _ = await exchange(port, request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                sample.errors += 1
                continue
            if status == 200:
                sample.latencies.append(latency)
            else:
                sample.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.elapsed = time.perf_counter() - started
    return sample


def run(port: int, requests: Sequence[bytes], concurrency: int) -> Sample:
    """Send `requests` with `concurrency` in flight at all times; non-200 answers count as errors."""
    return asyncio.run(_closed_loop(port, requests, concurrency))


def send(port: int, request: bytes) -> tuple[float, int, bytes]:
    return asyncio.run(exchange(port, request))
