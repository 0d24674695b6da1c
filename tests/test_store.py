"""The database layer on real SQLite and PostgreSQL: schema, unavailability, locks, leases, audit."""

from __future__ import annotations

import csv
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from bot.store import (
    MIGRATIONS,
    Store,
    StoreUnavailable,
    TargetBusy,
    approvals,
    audit_csv,
    database_url,
    metadata,
    schema_version,
)
from tests.fakes.db_plugin import FakeClock, race_in_processes, race_in_threads

# --- engine and schema ---


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db/chatops", "postgresql+psycopg://u:p@db/chatops"),
        (
            "postgresql://u@db:5433/chatops?sslmode=require",
            "postgresql+psycopg://u@db:5433/chatops?sslmode=require",
        ),
        ("postgresql+psycopg://u@db/chatops", "postgresql+psycopg://u@db/chatops"),
        ("sqlite:///mailcow-chatops.db", "sqlite:///mailcow-chatops.db"),
    ],
)
def test_postgres_urls_are_sent_to_psycopg_3(given: str, used: str) -> None:
    assert database_url(given).render_as_string(hide_password=False) == used


def test_other_databases_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="CHATOPS_DATABASE_URL must be sqlite"):
        Store("mysql://u@db/chatops")


def test_sqlite_uses_wal_and_waits_for_locks(sqlite_url: str) -> None:
    store = Store(sqlite_url, busy_timeout=7)
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    store.dispose()


def test_the_migrated_schema_is_what_the_queries_expect(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys()), table.name
    assert {i["name"] for i in inspector.get_indexes("audit")} >= {"ix_audit_at", "ix_audit_user_at"}
    assert store.migrate() == len(MIGRATIONS)


def test_start_up_upgrades_a_version_1_database(db_url: str, clock: FakeClock) -> None:
    old = Store(db_url, now=clock)
    assert old.migrate(up_to=1) == 1
    with old.engine.begin() as conn:
        conn.execute(
            approvals.insert().values(
                id="oldrequest01", state="pending", area="queue", verb="flush", target="queue",
                summary="Flush the queue", plan="{}", target_state="{}", fingerprint="0" * 64,
                requested_by="UREQ", channel_id="COPS", reason="", created_at=clock(),
                expires_at=clock() + 900, updated_at=clock(),
            )
        )  # fmt: skip
    assert "watches" not in sa.inspect(old.engine).get_table_names()
    old.dispose()

    new = Store(db_url, now=clock)
    assert new.migrate() == len(MIGRATIONS)
    with new.read() as conn:
        row = conn.execute(sa.select(approvals).where(approvals.c.id == "oldrequest01")).one()
        versions = conn.scalars(sa.select(schema_version.c.version).order_by(schema_version.c.version)).all()
    assert (row.state, row.runner, row.heartbeat_at) == ("pending", None, None)
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert "watches" in sa.inspect(new.engine).get_table_names()
    new.dispose()


def test_replicas_starting_together_migrate_once(db_url: str) -> None:
    stores = [Store(db_url) for _ in range(4)]
    assert race_in_threads(4, lambda i: stores[i].migrate()) == [len(MIGRATIONS)] * 4
    with stores[0].read() as conn:
        assert conn.scalars(sa.select(schema_version.c.version)).all() == list(range(1, len(MIGRATIONS) + 1))
    for store in stores:
        store.dispose()


def test_a_schema_newer_than_this_build_stops_start_up(store: Store, db_url: str) -> None:
    with store.write() as conn:
        conn.execute(schema_version.insert().values(version=len(MIGRATIONS) + 1, applied_at=0))
    with pytest.raises(RuntimeError, match="newer than this build knows"):
        Store(db_url).migrate()


# --- the database unavailable ---


def test_an_unreachable_postgres_is_reported_quickly_in_plain_words() -> None:
    store = Store("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(
        StoreUnavailable, match=r"database at postgresql\+psycopg://postgres@127.0.0.1:1/test"
    ):
        store.migrate()
    with pytest.raises(StoreUnavailable, match="cannot be used right now"):
        store.record("command", user_id="U1")
    assert time.monotonic() - started < 3


def test_an_unopenable_sqlite_file_is_store_unavailable(tmp_path: Any) -> None:
    store = Store(f"sqlite:///{tmp_path}/no/such/dir/chatops.db")
    with pytest.raises(StoreUnavailable, match="unable to open database file"):
        store.audit_entries()


# --- per-target locks ---


def test_a_lock_has_one_holder_until_released_or_expired(store: Store, clock: FakeClock) -> None:
    assert store.acquire_lock("mailbox:jane@example.org", "a", ttl=30)
    assert not store.acquire_lock("mailbox:jane@example.org", "b", ttl=30)
    assert store.acquire_lock("domain:example.org", "b", ttl=30)  # another target is free
    assert store.acquire_lock("mailbox:jane@example.org", "a", ttl=30)  # the holder renews
    store.release_lock("mailbox:jane@example.org", "b")  # not b's to release
    assert not store.acquire_lock("mailbox:jane@example.org", "b", ttl=30)
    store.release_lock("mailbox:jane@example.org", "a")
    assert store.acquire_lock("mailbox:jane@example.org", "b", ttl=30)
    clock.advance(29)
    assert not store.acquire_lock("mailbox:jane@example.org", "c", ttl=30)
    clock.advance(1)  # b died without releasing
    assert store.acquire_lock("mailbox:jane@example.org", "c", ttl=30)


def test_twenty_threads_racing_for_a_lock_get_one_holder(store: Store) -> None:
    won = race_in_threads(20, lambda i: store.acquire_lock("queue", f"holder-{i}", ttl=30))
    assert won.count(True) == 1


def _take_lock_ten_times(barrier: Any, url: str) -> int:
    store = Store(url)
    store.migrate()
    barrier.wait(timeout=30)
    won = sum(store.acquire_lock("queue", f"{id(store)}-{i}", ttl=60) for i in range(10))
    store.dispose()
    return won


def test_two_processes_racing_for_a_lock_get_one_holder(store: Store, db_url: str) -> None:
    assert sum(race_in_processes(_take_lock_ten_times, db_url)) == 1


def test_target_lock_raises_target_busy_and_always_releases(store: Store) -> None:
    assert store.acquire_lock("queue", "other", ttl=30)
    with pytest.raises(TargetBusy, match="queue is busy with another action") as busy:  # noqa: SIM117
        with store.target_lock("queue", "me", ttl=30, wait=0):
            pytest.fail("the body must not run while another holds the lock")
    assert busy.value.holder == "other"
    store.release_lock("queue", "other")

    with pytest.raises(ZeroDivisionError), store.target_lock("queue", "me", ttl=30, wait=0):
        assert not store.acquire_lock("queue", "other", ttl=30)
        _ = 1 / 0
    assert store.acquire_lock("queue", "other", ttl=30)


def test_target_lock_waits_for_the_holder_to_finish(store: Store) -> None:
    assert store.acquire_lock("queue", "other", ttl=30)
    threading.Timer(0.2, store.release_lock, args=("queue", "other")).start()
    with store.target_lock("queue", "me", ttl=30, wait=5, poll=0.02):
        assert not store.acquire_lock("queue", "other", ttl=30)


# --- leases ---


def test_a_lease_is_renewed_by_its_holder_and_taken_over_after_expiry(store: Store, clock: FakeClock) -> None:
    assert store.acquire_lease("watchers", "replica-a", ttl=10)
    assert store.lease_holder("watchers") == "replica-a"
    clock.advance(8)
    assert not store.acquire_lease("watchers", "replica-b", ttl=10)
    assert store.acquire_lease("watchers", "replica-a", ttl=10)  # renewed until +18
    clock.advance(8)
    assert not store.acquire_lease("watchers", "replica-b", ttl=10)
    clock.advance(3)  # replica-a stopped renewing: it died
    assert store.lease_holder("watchers") is None
    assert store.acquire_lease("watchers", "replica-b", ttl=10)
    store.release_lease("watchers", "replica-a")
    assert store.lease_holder("watchers") == "replica-b"
    store.release_lease("watchers", "replica-b")
    assert store.lease_holder("watchers") is None


def test_leases_and_locks_do_not_share_names(store: Store) -> None:
    assert store.acquire_lock("queue", "executor", ttl=30)
    assert store.acquire_lease("queue", "replica-a", ttl=30)


# --- audit trail ---


def test_audit_queries_filter_by_user_target_and_time(store: Store, clock: FakeClock) -> None:
    start = clock()
    for user, target in [
        ("U1", "mailbox:jane_doe@example.org"),
        ("U2", "mailbox:janeXdoe@example.org"),
        ("U1", "domain:example.org"),
        ("U2", "queue"),
    ]:
        store.record("command", user_id=user, channel_id="COPS", target=target, outcome="ok")
        clock.advance(10)

    assert [e.target for e in store.audit_entries()] == [
        "queue",
        "domain:example.org",
        "mailbox:janeXdoe@example.org",
        "mailbox:jane_doe@example.org",
    ]
    assert len(store.audit_entries(2)) == 2
    assert {e.target for e in store.audit_entries(user_id="U1")} == {
        "mailbox:jane_doe@example.org",
        "domain:example.org",
    }
    assert [e.target for e in store.audit_entries(target="JANE_")] == ["mailbox:jane_doe@example.org"]
    assert len(store.audit_entries(target="example.org")) == 3
    assert store.audit_entries(target="example.org", exact_target=True) == []
    assert [e.target for e in store.audit_entries(target="queue", exact_target=True)] == ["queue"]
    assert [e.user_id for e in store.audit_entries(since=start + 20)] == ["U2", "U1"]


def test_audit_text_passes_the_redaction_hook(db_url: str) -> None:
    store = Store(db_url, redact=lambda text: text.replace("hunter2", "[redacted]"))
    store.record("failure", outcome="password hunter2 too short", detail="body: {'password': 'hunter2'}")
    (entry,) = store.audit_entries()
    assert entry.outcome == "password [redacted] too short"
    assert "hunter2" not in entry.detail
    store.dispose()


def test_audit_exports_as_csv(store: Store) -> None:
    store.record(
        "execution",
        user_id="U1",
        channel_id="COPS",
        area="queue",
        verb="flush",
        target="queue",
        outcome="=HYPERLINK(1)",
        detail='mailcow said: "ok",\nflushed',
        duration_ms=1234,
        correlation_id="c-1",
    )
    rows = list(csv.reader("".join(audit_csv(store.audit_entries())).splitlines(keepends=True)))
    assert rows[0] == [
        "id", "at", "event", "user_id", "channel_id", "area", "verb", "target",
        "outcome", "detail", "duration_ms", "correlation_id", "approval_id",
    ]  # fmt: skip
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["at"] == "2025-06-15T15:06:40+00:00"
    assert row["outcome"] == "'=HYPERLINK(1)"
    assert row["detail"] == 'mailcow said: "ok",\nflushed'
    assert (row["duration_ms"], row["approval_id"]) == ("1234", "")
    assert len(rows) == 2
