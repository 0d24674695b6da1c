"""Periodic background jobs (approval expiry, interrupted runs, later the on-call watchers).

Jobs are due by an injectable clock, so tests move a `FakeClock` and call `run_pending()` instead of
sleeping. In production a daemon thread wakes every `resolution` seconds and hands `run_pending` to
the app's worker pool, where Slack and database calls already run; when that pool shuts down (the
server stopping) the thread stops with it. Jobs run one round at a time: a round that is still busy
when the next wake-up comes is not started twice.

Nothing here needs to be the only replica: every job must be safe to run on each replica at once
(the approval sweeps are, because the database hands each expiry to exactly one caller).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from bot.store import StoreUnavailable

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass
class Job:
    name: str
    every: float
    run: Callable[[], object]
    due: float


class Scheduler:
    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._jobs: list[Job] = []
        self._round = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        """Run `run` every `seconds` (by the clock), the first time at the next `run_pending()`."""
        if any(job.name == name for job in self._jobs):
            raise ValueError(f"a job named {name} is already scheduled")
        self._jobs.append(Job(name, seconds, run, due=self.clock()))

    @property
    def jobs(self) -> list[str]:
        return [job.name for job in self._jobs]

    def run_pending(self) -> list[str]:
        """Run every job that is due; returns their names. A failing job is logged and retried when
        next due, so one bad round (the database briefly down) does not stop the schedule."""
        if not self._round.acquire(blocking=False):
            return []
        try:
            ran = []
            for job in self._jobs:
                now = self.clock()
                if now < job.due:
                    continue
                job.due = now + job.every
                ran.append(job.name)
                try:
                    job.run()
                except StoreUnavailable as error:
                    log.warning("background job %s skipped: %s", job.name, error)
                except Exception:
                    log.exception("background job %s failed", job.name)
            return ran
        finally:
            self._round.release()

    def start(self, pool: Executor, *, resolution: float = 1.0) -> None:
        """Wake every `resolution` seconds and run due jobs on `pool`; idempotent."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stopped.wait(resolution):
                try:
                    pool.submit(self.run_pending)
                except RuntimeError:  # the pool was shut down: the app is stopping
                    return

        self._thread = threading.Thread(target=loop, name="chatops-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
