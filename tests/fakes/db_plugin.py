"""Real databases for tests: a temporary SQLite file, and a fresh schema on the local PostgreSQL.

Also a settable clock (`clock`, a `FakeClock`), a migrated `store` on each database, and helpers that
race a function in threads or in fresh OS processes.

Each PostgreSQL test gets its own schema (selected through the connection's search_path), so tests
never see each other's rows, and dropping it afterwards leaves the server clean.
`CHATOPS_TEST_POSTGRES_URL` points at the server; without one reachable the PostgreSQL tests are
skipped, except on CI (env `CI` set), where that is a failure: the guarantees under test are the
ones several replicas rely on.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.store import Store, database_url

POSTGRES_SERVER = os.environ.get("CHATOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CLOSED_PORT_DB = "postgresql://postgres@127.0.0.1:1/test"
"""A database URL nothing answers at."""


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chatops.db'}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        database_url(POSTGRES_SERVER), poolclass=sa.NullPool, connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL at {POSTGRES_SERVER} is not reachable: {str(error.orig).splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must provide it)", pytrace=False)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@contextmanager
def fresh_schema(server: sa.Engine) -> Iterator[str]:
    """The URL of a new, empty schema on the PostgreSQL `server`, dropped afterwards."""
    schema = f"chatops_test_{secrets.token_hex(6)}"
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = database_url(POSTGRES_SERVER).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with server.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def postgres_url(postgres_server: sa.Engine) -> Iterator[str]:
    with fresh_schema(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    """A migrated store on each database, its time read from `clock`."""
    store = Store(db_url, now=clock)
    store.migrate()
    yield store
    store.dispose()


class FakeClock:
    """A clock tests move by hand, so expiries happen without sleeping."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.time = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.time += seconds


def race_in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Call `work(i)` from `count` threads released together; results in thread order.

    An exception in any thread is raised here, not lost in the thread.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = work(i)
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def race_in_processes(worker: Callable[..., Any], *args: Any, processes: int = 2) -> list[Any]:
    """Run `worker(barrier, *args)` in fresh spawned processes and return what each returned.

    Spawned, not forked, so each process builds its own engine like a separate replica would; the
    worker calls `barrier.wait()` once set up, so the processes really race.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(target=_report, args=(results, worker, barrier, *args)) for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=60) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
    errors = [value for ok, value in outcomes if not ok]
    assert not errors, errors
    return [value for _, value in outcomes]


def _report(results: Any, worker: Callable[..., Any], *args: Any) -> None:
    try:
        results.put((True, worker(*args)))
    except BaseException as error:
        results.put((False, repr(error)))
