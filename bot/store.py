"""The database behind approvals, the audit trail, per-target locks, watcher leases and watches.

SQLAlchemy Core on SQLite (the default: one file, one replica) or PostgreSQL (several replicas).
Every guarantee that has to hold across threads, processes, replicas and restarts (one approval
wins, one holder per lock, each expiry reported once) comes from a single conditional statement that
the database executes atomically, never from state kept in this process.

Times are UTC epoch seconds (floats) in every table on both databases: nothing to convert, and the
clock that tests inject is a plain function returning a float.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Redact = Callable[[str], str]


class StoreUnavailable(Exception):
    """The database cannot be reached or used right now; the message says so in plain words.

    Callers refuse writes and approvals with it while read-only commands carry on.
    """


class TargetBusy(Exception):
    """Another action holds the lock on this target and did not let go within the wait."""

    def __init__(self, target: str, holder: str | None) -> None:
        super().__init__(f"{target} is busy with another action; try again in a moment")
        self.target = target
        self.holder = holder


# --- tables: the current shape, used by every query. MIGRATIONS below are what creates them. ---

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("area", sa.Text, nullable=False),
    sa.Column("verb", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("target_state", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("message_ts", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.Double),
    sa.Column("deny_reason", sa.Text),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Column("outcome", sa.Text),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("runner", sa.Text),
    sa.Column("heartbeat_at", sa.Double),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("area", sa.Text, nullable=False),
    sa.Column("verb", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("approval_id", sa.Text),
)

# One mechanism for both per-target locks ("lock:<target>") and watcher leases ("lease:<name>"):
# a row per name with a holder and an expiry, so a dead holder lets go by itself.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)

# On-call watches (bot/watch.py): one row per watched thing, its configuration and its current
# incident, so every replica shows and continues the same alert message.
watches = sa.Table(
    "watches",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("thresholds", sa.Text, nullable=False),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at", sa.Double, nullable=False),
    sa.Column("checked_at", sa.Double),
    sa.Column("check_error", sa.Text),
    sa.Column("reading", sa.Text),
    sa.Column("incident_started_at", sa.Double),
    sa.Column("incident_channel", sa.Text),
    sa.Column("incident_ts", sa.Text),
    sa.Column("peak", sa.Text),
    sa.Column("snoozed_until", sa.Double),
    sa.Column("snoozed_by", sa.Text),
    sa.Column("updated_at", sa.Double, nullable=False),
)


# --- migrations: frozen once released; append, never edit. Version N is MIGRATIONS[N - 1]. ---


def _v1_approvals_audit_leases(conn: sa.Connection) -> None:
    """Approval requests (with who runs them and their heartbeat), the audit trail, locks and leases."""
    v1 = sa.MetaData()
    sa.Table(
        "approvals",
        v1,
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("area", sa.Text, nullable=False),
        sa.Column("verb", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("target_state", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("channel_id", sa.Text, nullable=False),
        sa.Column("message_ts", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.Double),
        sa.Column("deny_reason", sa.Text),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("outcome", sa.Text),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("runner", sa.Text),
        sa.Column("heartbeat_at", sa.Double),
        sa.Index("ix_approvals_state_expires", "state", "expires_at"),
        sa.Index("ix_approvals_target_state", "target", "state"),
    )
    sa.Table(
        "audit",
        v1,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("channel_id", sa.Text, nullable=False),
        sa.Column("area", sa.Text, nullable=False),
        sa.Column("verb", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("approval_id", sa.Text),
        sa.Index("ix_audit_at", "at"),
        sa.Index("ix_audit_user_at", "user_id", "at"),
        sa.Index("ix_audit_target_at", "target", "at"),
        sa.Index("ix_audit_approval", "approval_id"),
    )
    sa.Table(
        "leases",
        v1,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    v1.create_all(conn)


def _v2_watches(conn: sa.Connection) -> None:
    """On-call watches: configuration, last reading and the open incident's alert message."""
    v2 = sa.MetaData()
    sa.Table(
        "watches",
        v2,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("channel_id", sa.Text, nullable=False),
        sa.Column("thresholds", sa.Text, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
        sa.Column("set_at", sa.Double, nullable=False),
        sa.Column("checked_at", sa.Double),
        sa.Column("check_error", sa.Text),
        sa.Column("reading", sa.Text),
        sa.Column("incident_started_at", sa.Double),
        sa.Column("incident_channel", sa.Text),
        sa.Column("incident_ts", sa.Text),
        sa.Column("peak", sa.Text),
        sa.Column("snoozed_until", sa.Double),
        sa.Column("snoozed_by", sa.Text),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    v2.create_all(conn)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    _v1_approvals_audit_leases,
    _v2_watches,
]


# --- engine ---

_WRITE = "chatops_write"


def database_url(url: str) -> sa.URL:
    """Parse `url`, sending plain `postgresql://` and `postgres://` to psycopg 3, the driver we ship."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str, *, connect_timeout: float = 5.0, busy_timeout: float = 5.0) -> sa.Engine:
    """An engine for SQLite (WAL, busy timeout, usable from any thread) or PostgreSQL."""
    parsed = database_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False, "timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_setup(busy_timeout))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        # libpq takes whole seconds and treats anything below 2 as 2.
        timeout = max(2, round(connect_timeout))
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": timeout})
    raise ValueError(f"CHATOPS_DATABASE_URL must be sqlite:///… or postgresql://…, not {backend}")


def _sqlite_setup(busy_timeout: float) -> Callable[[Any, Any], None]:
    def setup(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it skips it before SELECT and DDL) so that every
        # transaction really is one; _sqlite_begin emits it instead.
        dbapi_connection.isolation_level = None
        # WAL lets readers and the writer work at once. Switching to it needs the file to itself
        # and SQLite does not wait for that, so processes opening a new file together retry.
        deadline = time.monotonic() + busy_timeout
        while dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    return setup


def _sqlite_begin(conn: sa.Connection) -> None:
    # A write transaction takes the write lock up front (waiting up to the busy timeout), so it can
    # never fail half-way on a lock upgrade while another process writes.
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _lock_number(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _unchanged(text: str) -> str:
    return text


# --- the store ---


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    event: str
    user_id: str
    channel_id: str
    area: str
    verb: str
    target: str
    outcome: str
    detail: str
    duration_ms: int | None
    correlation_id: str
    approval_id: str | None


class Store:
    """One database: its schema, audit trail, locks and leases.

    `now` is the clock for every stored time and expiry; `redact` runs over every free text the
    audit trail stores, as a second line of defence behind the callers' own redaction.
    """

    def __init__(
        self,
        url: str,
        *,
        now: Clock = time.time,
        redact: Redact = _unchanged,
        connect_timeout: float = 5.0,
        busy_timeout: float = 5.0,
    ) -> None:
        self.engine = create_engine(url, connect_timeout=connect_timeout, busy_timeout=busy_timeout)
        self.now = now
        self.redact = redact
        self._where = self.engine.url.render_as_string(hide_password=True)
        self._schema_ready = False

    def dispose(self) -> None:
        self.engine.dispose()

    # transactions

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        self._ensure_schema()
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction; on SQLite it holds the database's single write lock throughout."""
        self._ensure_schema()
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: write})
                with conn.begin():
                    yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            cause = str(error.orig or error).strip().splitlines()[0]
            raise StoreUnavailable(
                f"the database at {self._where} cannot be used right now: {cause}"
            ) from error

    def serialise(self, conn: sa.Connection, key: str) -> None:
        """Make writers of the same `key` take turns until this transaction ends.

        For check-then-insert steps that no single statement covers. SQLite already runs one write
        transaction at a time; PostgreSQL takes a transaction-scoped advisory lock on the key.
        """
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_number(key))))

    # schema

    def migrate(self, up_to: int | None = None) -> int:
        """Create the schema or bring it up to date (or to version `up_to`); returns the version.

        Safe when several replicas start at once: they take turns, and each step runs in the same
        transaction as the row recording it, so a crash half-way leaves the previous version.
        """
        latest = len(MIGRATIONS)
        wanted = latest if up_to is None else up_to
        with self._transaction(write=True) as conn:
            self.serialise(conn, "schema_version")
            schema_version.create(conn, checkfirst=True)
            current = conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0
            if current > latest:
                raise RuntimeError(
                    f"the database schema is version {current}, newer than this build knows ({latest}); "
                    "run the newer mailcow-chatops"
                )
            for version in range(current + 1, wanted + 1):
                MIGRATIONS[version - 1](conn)
                conn.execute(schema_version.insert().values(version=version, applied_at=self.now()))
        reached = max(current, wanted)
        self._schema_ready = reached == latest
        return reached

    def _ensure_schema(self) -> None:
        # Start-up calls migrate(); this covers a database that was down at start-up and came back.
        if not self._schema_ready:
            self.migrate()

    # audit trail

    def record(
        self,
        event: str,
        *,
        user_id: str = "",
        channel_id: str = "",
        area: str = "",
        verb: str = "",
        target: str = "",
        outcome: str = "",
        detail: str = "",
        duration_ms: int | None = None,
        correlation_id: str = "",
        approval_id: str | None = None,
        conn: sa.Connection | None = None,
    ) -> None:
        """Append one audit entry, inside `conn`'s transaction when given (so it commits with it)."""
        insert = audit.insert().values(
            at=self.now(),
            event=event,
            user_id=user_id,
            channel_id=channel_id,
            area=area,
            verb=verb,
            target=target,
            outcome=self.redact(outcome),
            detail=self.redact(detail),
            duration_ms=duration_ms,
            correlation_id=correlation_id,
            approval_id=approval_id,
        )
        if conn is not None:
            conn.execute(insert)
            return
        with self.write() as own:
            own.execute(insert)

    def audit_entries(
        self,
        limit: int = 50,
        *,
        user_id: str | None = None,
        target: str | None = None,
        exact_target: bool = False,
        since: float | None = None,
    ) -> list[AuditEntry]:
        """The newest `limit` entries, newest first; `target` matches as a substring unless exact."""
        query = sa.select(audit).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(audit.c.user_id == user_id)
        if target is not None and exact_target:
            query = query.where(audit.c.target == target)
        elif target is not None:
            pattern = target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(audit.c.target.ilike(f"%{pattern}%", escape="\\"))
        if since is not None:
            query = query.where(audit.c.at >= since)
        with self.read() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]

    # per-target locks

    def acquire_lock(self, target: str, holder: str, ttl: float) -> bool:
        return self._take(f"lock:{target}", holder, ttl)

    def release_lock(self, target: str, holder: str) -> None:
        self._give_back(f"lock:{target}", holder)

    @contextmanager
    def target_lock(
        self, target: str, holder: str, *, ttl: float, wait: float, poll: float = 0.1
    ) -> Iterator[None]:
        """Hold `target` for the body, waiting up to `wait` seconds for it, else raise TargetBusy.

        `ttl` bounds how long a crashed holder blocks the target; pick it above the longest action.
        """
        deadline = time.monotonic() + wait
        while not self.acquire_lock(target, holder, ttl):
            if time.monotonic() >= deadline:
                raise TargetBusy(target, self._holder(f"lock:{target}"))
            time.sleep(poll)
        try:
            yield
        finally:
            try:
                self.release_lock(target, holder)
            except StoreUnavailable:
                log.warning("could not release the lock on %s; it expires in %s s", target, ttl)

    # leases (one replica does a job, e.g. polling for on-call watchers)

    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease if free or expired, or renew it if `holder` has it; False if someone else does."""
        return self._take(f"lease:{name}", holder, ttl)

    def release_lease(self, name: str, holder: str) -> None:
        self._give_back(f"lease:{name}", holder)

    def lease_holder(self, name: str) -> str | None:
        return self._holder(f"lease:{name}")

    def _take(self, name: str, holder: str, ttl: float) -> bool:
        now = self.now()
        with self.write() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(leases).values(name=name, holder=holder, expires_at=now + ttl)
            upsert = insert.on_conflict_do_update(
                index_elements=[leases.c.name],
                set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
                where=(leases.c.expires_at <= now) | (leases.c.holder == holder),
            ).returning(leases.c.name)
            return conn.execute(upsert).first() is not None

    def _give_back(self, name: str, holder: str) -> None:
        with self.write() as conn:
            conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    def _holder(self, name: str) -> str | None:
        query = sa.select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at > self.now())
        with self.read() as conn:
            return conn.scalar(query)


_CSV_COLUMNS = [column.name for column in audit.columns]


def audit_csv(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """CSV lines (header first) for `/mailcow audit export`; times as ISO 8601 UTC.

    Cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(_CSV_COLUMNS)
    for entry in entries:
        cells = [getattr(entry, name) for name in _CSV_COLUMNS]
        cells[_CSV_COLUMNS.index("at")] = datetime.fromtimestamp(entry.at, UTC).isoformat()
        yield line(_defuse(cell) for cell in cells)


def _defuse(cell: object) -> object:
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return "" if cell is None else cell
