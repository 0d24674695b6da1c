"""The lazy work of `mailcow-chatops serve` in worker processes (CHATOPS_WORKERS, default 2).

Why: the ack and the lazy work (rendering, Slack posts, logging, the audit write) shared one process
and its GIL, so each ack waited behind milliseconds of other requests' work. Here the serving process
only verifies, guards and acks; each lazy function becomes a job that a worker process runs by
dispatching the request through its own copy of the app, with Bolt's `x-slack-bolt-lazy-only` and
`x-slack-bolt-lazy-function-name` headers: the mechanism of Bolt's AWS Lambda adapter. The guard runs
again there (it puts the roles in the context), then only that lazy function.

Trust: a worker's app does not check Slack's signature (`build_app(in_worker=True)`). Its requests
come only from the serving process, over a pipe that process created and nothing else can write to,
and that process sends only requests that passed the signature check and the guard. Checking again
would add nothing and lose work: the signed timestamp expires after 5 minutes, so a backlog that old
would be refused after the person was told it was accepted. For the same reason a worker, and only a
worker, takes the correlation id that comes with the request.

- Each job goes to the first worker (by index) with a free thread, so one process's mailcow read
  cache stays warm and the next worker takes the overflow. The ack writes a small job to that
  worker's pipe itself, which never blocks: a worker holds at most THREADS jobs, far less than the
  pipe's buffer. Otherwise the job joins a bounded backlog that a supervisor thread hands out; when
  the backlog is full the person is told so at once, in the ack (commands, modals) or through the
  response URL (clicks): the work is not started, and never dropped silently.
- The supervisor also reads `ready`, `done` and metrics back, and restarts a worker that died
  (backing off while one keeps dying young). The jobs a dead worker was running are logged with
  their references, not retried: a write may have half happened. Each worker has its own pipe, not
  a shared `multiprocessing.Queue`: a worker killed while it waits in `get()` holds that queue's
  read lock forever, and every other worker waits behind it.
- Workers are spawned (no forked copies of the server's threads and sockets), run at the lowest CPU
  priority (Linux's SCHED_IDLE, else nice 19) so acks win the CPU, and run up to THREADS jobs at
  once, since the work mostly waits on mailcow and Slack. Worker 0 also runs the background
  scheduler: exactly one process, never the serving one.
- Stopping drains: the backlog is handed out and finished (within DRAIN seconds), then the workers
  exit. A worker whose serving process is gone finishes what it holds and exits.
- Metrics: each worker sends its values every second; `/metrics` adds up every process, and a
  worker that died keeps its counts in the totals.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import selectors
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.util.utils import get_name_for_callable
from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from bot import logs, metrics
from bot.app import build_app, build_services
from bot.guard import ACK_NOTE, ACK_NOTE_HEADER, CORRELATION_HEADER, json_response
from bot.settings import Settings

log = logging.getLogger(__name__)

THREADS = 8
"""Jobs one worker runs at once."""
BACKLOG = 1000
"""Acked jobs waiting for a worker; beyond this the person is told to try again."""
INLINE = 16_384
"""Bodies up to this size are written by the ack itself: THREADS of them fit in the buffer of the
worker's socket pair (~200 KB on Linux), so that write never waits."""
DRAIN = 20.0
"""Seconds a stopping server gives the workers to finish the backlog (Kubernetes allows 30 in all)."""
METRICS_EVERY = 1.0
_YOUNG = 10.0  # a worker that dies sooner than this after starting is restarted with a back-off
_LAZY_ONLY = "x-slack-bolt-lazy-only"
_LAZY_NAME = "x-slack-bolt-lazy-function-name"


def internal_header(name: str) -> bool:
    """Headers that tell Bolt or a worker how to treat a request: only the serving process sets them,
    so `bot.server` drops them from requests that come from outside."""
    return name.startswith("x-slack-bolt-") or name in (CORRELATION_HEADER, ACK_NOTE_HEADER)


@dataclass(frozen=True)
class Job:
    """What crosses the pipe: the verified body and the headers a worker's app needs, no context."""

    body: str
    headers: dict[str, str | Sequence[str]]
    cid: str


@dataclass(eq=False)
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    started: float
    ready: bool = False
    stopping: bool = False
    running: dict[int, Job] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    sending: threading.Lock = field(default_factory=threading.Lock)


class WorkerPool:
    """The serving process's side: the backlog, the workers and the supervisor thread."""

    def __init__(
        self, settings: Settings, count: int, *, threads: int = THREADS, backlog: int = BACKLOG
    ) -> None:
        self.settings = settings
        self.count = count
        self.threads = threads
        self.limit = backlog
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._backlog: deque[Job] = deque()
        self._workers: dict[int, _Worker] = {}
        self._restarts: dict[int, float] = dict.fromkeys(range(count), 0.0)
        self._failures: dict[int, int] = dict.fromkeys(range(count), 0)
        self._retired: list[Metric] = []
        self._last_id = 0
        self._refused = 0
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._supervise, name="chatops-workers", daemon=True)

    # --- used by the serving process ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> bool:
        """Give `job` to a worker, or queue it; False, with nothing queued, when the backlog is full."""
        with self._lock:
            worker = None if self._backlog or len(job.body) > INLINE else self._free_worker()
            if worker is not None:
                message = self._assign(worker, job)
            elif len(self._backlog) >= self.limit:
                self._refused += 1
                return False
            else:
                self._backlog.append(job)
        if worker is None:
            self._wake()
        else:
            self._send(worker, message, job)
        return True

    def stop(self, timeout: float = DRAIN) -> None:
        """Hand out and finish the backlog, then stop the workers; after `timeout`, terminate them."""
        self._stopping = True
        if self._thread.ident is not None:  # started
            self._wake()
            self._thread.join(timeout)
        if self._thread.is_alive():
            with self._lock:
                left = list(self._workers.values())
                waiting = len(self._backlog)
            running = sum(len(w.running) for w in left)
            log.error(
                "workers did not finish within %.0f s: stopping them with %d requests running and %d "
                "waiting (lost)",
                timeout,
                running,
                waiting,
            )
            for worker in left:
                worker.process.terminate()
            self._thread.join(5)
        if not self._thread.is_alive():
            self._selector.close()
            os.close(self._wake_w)
            os.close(self._wake_r)

    @property
    def ready(self) -> bool:
        """At least one worker can take work."""
        with self._lock:
            return any(w.ready for w in self._workers.values())

    def health(self) -> dict[str, Any]:
        with self._lock:
            workers = list(self._workers.values())
            return {
                "workers": {
                    "configured": self.count,
                    "alive": len(workers),
                    "ready": sum(w.ready for w in workers),
                    "pids": sorted(w.process.pid or 0 for w in workers),
                },
                "queue": {
                    "waiting": len(self._backlog),
                    "running": sum(len(w.running) for w in workers),
                    "limit": self.limit,
                    "refused": self._refused,
                },
            }

    def render_metrics(self) -> bytes:
        """Prometheus text for this process and every worker, added up."""
        with self._lock:
            snapshots = [self._retired, *(w.metrics for w in self._workers.values())]
        return generate_latest(_Families(merge([metrics.REGISTRY.collect(), *snapshots])))

    # --- the supervisor thread ---------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # the pipe is full of wake-ups already
            os.write(self._wake_w, b"\0")

    def _supervise(self) -> None:
        while not (self._stopping and not self._workers):
            self._start_due()
            exited = []
            for key, _ in self._selector.select(self._next_restart()):
                worker: _Worker | None = key.data
                if worker is None:
                    os.read(self._wake_r, 4096)
                elif key.fileobj is worker.conn:
                    self._receive(worker)
                else:  # its sentinel: buried below, once what it sent before exiting is read
                    exited.append(worker)
            for worker in exited:
                self._bury(worker)
            self._dispatch()
        with self._lock:
            lost = len(self._backlog)
        if lost:
            log.error("%d acked requests were never run: no worker was left to run them", lost)

    def _next_restart(self) -> float | None:
        if self._stopping or not self._restarts:
            return None
        return max(0.0, min(self._restarts.values()) - time.monotonic())

    def _start_due(self) -> None:
        now = time.monotonic()
        for index, due in list(self._restarts.items()):
            if due <= now and not self._stopping:
                del self._restarts[index]
                self._spawn(index)

    def _spawn(self, index: int) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(index, child, self.settings, self.threads, index == 0),
            name=f"chatops-worker-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(index, process, parent, time.monotonic())
        self._selector.register(parent, selectors.EVENT_READ, worker)
        self._selector.register(process.sentinel, selectors.EVENT_READ, worker)
        with self._lock:
            self._workers[index] = worker

    def _receive(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                kind, value = worker.conn.recv()
                with self._lock:
                    if kind == "ready":
                        worker.ready = True
                    elif kind == "done":
                        worker.running.pop(value, None)
                    elif kind == "metrics":
                        worker.metrics = value
        except (EOFError, OSError):  # it exited; its sentinel says so
            pass

    def _bury(self, worker: _Worker) -> None:
        self._receive(worker)
        self._selector.unregister(worker.conn)
        self._selector.unregister(worker.process.sentinel)
        worker.process.join(1)
        worker.conn.close()
        with self._lock:
            del self._workers[worker.index]
            self._retired = merge([self._retired, worker.metrics], gauges=False)
        code = worker.process.exitcode
        if worker.running:
            log.error(
                "worker %d (pid %s) exited with %s while running %d request(s); they are lost (ref %s)",
                worker.index,
                worker.process.pid,
                code,
                len(worker.running),
                ", ".join(job.cid for job in worker.running.values()),
            )
        elif not worker.stopping:
            log.warning("worker %d (pid %s) exited with %s", worker.index, worker.process.pid, code)
        if self._stopping:
            return
        young = not worker.ready or time.monotonic() - worker.started < _YOUNG
        failures = self._failures[worker.index] = self._failures[worker.index] + 1 if young else 0
        delay = min(30.0, 2.0 ** (failures - 1)) if failures else 0.0
        log.info("starting worker %d again in %.0f s", worker.index, delay)
        self._restarts[worker.index] = time.monotonic() + delay

    def _free_worker(self) -> _Worker | None:
        """The first worker with a free thread (call with the lock held)."""
        for index in sorted(self._workers):
            worker = self._workers[index]
            if worker.ready and not worker.stopping and len(worker.running) < self.threads:
                return worker
        return None

    def _assign(self, worker: _Worker, job: Job) -> tuple[int, str, dict[str, str | Sequence[str]]]:
        """Count `job` as running on `worker` (call with the lock held); returns the message to send."""
        self._last_id += 1
        worker.running[self._last_id] = job
        return self._last_id, job.body, job.headers

    def _send(self, worker: _Worker, message: tuple[int, str, Any], job: Job) -> None:
        try:
            with worker.sending:
                worker.conn.send(message)
        except OSError:  # it died before reading: the job never reached it, so it can go elsewhere
            with self._lock:
                worker.running.pop(message[0], None)
                worker.ready = False
                self._backlog.appendleft(job)
            self._wake()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                worker = self._free_worker() if self._backlog else None
                if worker is None:
                    break
                job = self._backlog.popleft()
                message = self._assign(worker, job)
            self._send(worker, message, job)
        if not self._stopping:
            return
        with self._lock:
            if self._backlog:
                return
            idle = [w for w in self._workers.values() if not w.stopping]
            for worker in idle:
                worker.stopping = True
        for worker in idle:
            with worker.sending, contextlib.suppress(OSError):
                worker.conn.send(None)  # finish what you hold, then exit


class _Families(Collector):
    """A Prometheus collector over families collected elsewhere."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def merge(snapshots: Iterable[Iterable[Metric]], *, gauges: bool = True) -> list[Metric]:
    """Metric families from several processes as one: values added up, `_created` the earliest.
    `gauges=False` leaves gauges out (a dead worker's gauges mean nothing any more)."""
    families: dict[str, Metric] = {}
    samples: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Sample]] = {}
    for snapshot in snapshots:
        for family in snapshot:
            if family.type == "gauge" and not gauges:
                continue
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                samples[family.name] = {}
            merged = samples[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen = merged.get(key)
                if seen is None:
                    merged[key] = sample
                elif sample.name.endswith("_created"):
                    merged[key] = seen._replace(value=min(seen.value, sample.value))
                else:
                    merged[key] = seen._replace(value=seen.value + sample.value)
    for name, family in families.items():
        family.samples = list(samples[name].values())
    return list(families.values())


# --- the serving process's side of Bolt ------------------------------------------------------------


class HandOffRunner(LazyListenerRunner):
    """Bolt's lazy-listener runner for the serving process: each lazy function becomes a job.

    `run` (Bolt's synchronous path, for a request that names its lazy function) stays Bolt's: only a
    worker's requests name one, and `bot.server` drops those headers from requests from outside."""

    def __init__(self, pool: WorkerPool, background: Executor, logger: logging.Logger) -> None:
        self.pool = pool
        self.background = background
        self.logger = logger

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        cid = str(request.context.get("correlation_id", "-"))
        headers: dict[str, str | Sequence[str]] = {
            "content-type": [request.content_type or ""],
            _LAZY_ONLY: ["1"],
            _LAZY_NAME: [get_name_for_callable(function)],
            CORRELATION_HEADER: [cid],
        }
        note = request.context.get(ACK_NOTE)
        if note is not None:
            headers[ACK_NOTE_HEADER] = [str(note)]
        job = Job(body=request.raw_body, headers=headers, cid=cid)
        if not self.pool.submit(job):
            answer_busy(request, self.pool.limit, self.background)


class HandOffListenerRunner(ThreadListenerRunner):
    """Bolt's listener runner, minus the deep copy of the request (context included) it makes for each
    lazy function (0.30 ms of a 0.77 ms dispatch). The copy lets a lazy function run on another thread
    while the ack goes out; `HandOffRunner.start` instead reads the body, content type and correlation
    id at once, on the ack's thread, so it can take the request itself, and can still replace the ack
    when the backlog is full."""

    def _build_lazy_request(self, request: BoltRequest, lazy_func_name: str) -> BoltRequest:
        return request


def hand_off(app: App, pool: WorkerPool, background: Executor) -> None:
    """Make `app` give its lazy functions to `pool`; `background` sends the busy answers to clicks."""
    current = app.listener_runner
    app._listener_runner = HandOffListenerRunner(
        logger=current.logger,
        process_before_response=current.process_before_response,
        listener_error_handler=current.listener_error_handler,
        listener_start_handler=current.listener_start_handler,
        listener_completion_handler=current.listener_completion_handler,
        listener_executor=current.listener_executor,
        lazy_listener_runner=HandOffRunner(pool, background, current.logger),
    )


def answer_busy(request: BoltRequest, waiting: int, background: Executor) -> None:
    """Tell the person, now, that their request was not started: in the ack of a command (ephemeral)
    or a modal (an error under its first input, so it stays open), else through the response URL."""
    cid = str(request.context.get("correlation_id", "-"))
    text = (
        f":hourglass: I am too busy to start this now ({waiting:,} requests are already waiting), so "
        f"nothing was done. Please try again in a minute. (ref `{cid}`)"
    )
    body = request.body
    ack = request.context.ack
    if "command" in body:
        ack.response = json_response({"response_type": "ephemeral", "text": text})
    elif body.get("type") == "view_submission":
        blocks = (body.get("view") or {}).get("blocks") or []
        inputs = [b["block_id"] for b in blocks if b.get("type") == "input" and b.get("block_id")]
        if inputs:
            ack.response = json_response({"response_action": "errors", "errors": {inputs[0]: text}})
    elif body.get("response_url"):
        background.submit(_tell, str(body["response_url"]), text)
    log.warning("the work backlog is full (%d waiting): refused a %s", waiting, metrics.payload_kind(body))


def _tell(response_url: str, text: str) -> None:
    try:
        WebhookClient(response_url).send(text=text, response_type="ephemeral", replace_original=False)
    except (SlackClientError, OSError) as error:
        log.warning("could not say the bot is busy: %s", error)


# --- a worker process ------------------------------------------------------------------------------


class _WorkerField(logging.Filter):
    """Stamps `worker` (its index) on every log line of a worker; JSON lines show it."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True


class _Sender:
    """Sends to the serving process from any thread; a closed pipe (it is gone) is not an error."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def __call__(self, message: tuple[str, Any]) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._conn.send(message)


def _worker_main(index: int, conn: Connection, settings: Settings, threads: int, scheduler: bool) -> None:
    """A worker: build the app from the serving process's settings, then run jobs until told to stop
    or until the serving process is gone, finishing the jobs it holds either way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server drains us
    _lowest_priority()
    logs.register_settings_secrets(settings)
    logs.configure(settings.log_level, settings.log_format).addFilter(_WorkerField(index))
    try:
        services = build_services(settings)
        app = build_app(services, background=scheduler, in_worker=True)
    except Exception:  # logged our way (one redacted line), not as multiprocessing's bare traceback
        log.exception("worker %d could not start", index)
        sys.exit(1)
    gc.collect()
    gc.freeze()  # as the serving process does (bot.server): full collections skip what start-up built
    send = _Sender(conn)
    send(("ready", os.getpid()))
    log.info("worker %d ready (pid %d)%s", index, os.getpid(), ", running the scheduler" if scheduler else "")
    stopped = threading.Event()
    reporter = threading.Thread(target=_report_metrics, args=(send, stopped), name="metrics", daemon=True)
    reporter.start()

    def run(job_id: int, body: str, headers: dict[str, str | Sequence[str]]) -> None:
        try:
            app.dispatch(BoltRequest(body=body, headers=headers))
        except Exception:
            log.exception("a queued request failed")
        finally:
            send(("done", job_id))

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"chatops-worker{index}")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            log.warning("the serving process is gone: worker %d finishes its jobs and exits", index)
            break
        if message is None:
            break
        pool.submit(run, *message)
    pool.shutdown(wait=True)
    services.scheduler.stop()
    services.executor.shutdown(wait=True)  # audit writes of the last jobs
    stopped.set()
    reporter.join()
    services.mailcow.close()


def _lowest_priority() -> None:
    """Run only when the serving process does not need the CPU. Measured on 2 cores, `/mailcow queue`
    at 64 in flight: 830 acks/s with nice 10, 1,055 with nice 19, 1,215 with SCHED_IDLE."""
    os.nice(19)
    if hasattr(os, "SCHED_IDLE"):  # Linux; lowering one's own priority needs no privilege
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _report_metrics(send: _Sender, stopped: threading.Event) -> None:
    """Every METRICS_EVERY seconds, and once at the end, this process's metrics when they changed."""
    last = b""
    while True:
        done = stopped.wait(METRICS_EVERY)
        families = list(metrics.REGISTRY.collect())
        encoded = pickle.dumps(families)
        if encoded != last:
            send(("metrics", families))
            last = encoded
        if done:
            return
