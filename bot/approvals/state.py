"""The approval state machine, kept entirely in the database.

    pending ─► approved ─► running ─► done | failed
       │          └──────────┴─────► interrupted   (its process died: no heartbeat)
       └─► denied | expired | refused             (refused: the target changed since the request)

Every move is one conditional UPDATE (`… WHERE id = :id AND state = :from`) and the row count, or
the row RETURNING gives back, decides who made it. So twenty clicks on three replicas approve and
start an action once, a sweep on two replicas reports each expiry once, and a restarted process sees
exactly what the database says. Each move writes its audit entry in the same transaction.

No Slack here: callers pass user ids and callbacks for what needs Slack or mailcow (who may
approve, the target's current state), and get back plain-words reasons to show.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import sqlalchemy as sa

from bot.metrics import APPROVALS
from bot.store import Store, approvals


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"
    REFUSED = "refused"


class Verdict(StrEnum):
    """What an approve or deny click came to."""

    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    NOT_FOUND = "not_found"
    OWN_REQUEST = "own_request"
    NOT_ALLOWED = "not_allowed"
    CLOSED = "closed"
    EXPIRED = "expired"
    TARGET_CHANGED = "target_changed"


# Verdicts where this very call moved the request, so its Slack message must be redrawn.
_MOVED = {Verdict.APPROVED, Verdict.DENIED, Verdict.WITHDRAWN, Verdict.EXPIRED, Verdict.TARGET_CHANGED}

# Multi-row sweeps take turns: two of them locking rows in different orders could deadlock.
_SWEEP = "approvals:sweep"
NO_SUCH_REQUEST = "there is no such approval request"
INTERRUPTED_OUTCOME = (
    "interrupted: the process running it stopped before reporting an outcome; "
    "check mailcow before asking again"
)


@dataclass(frozen=True)
class Approval:
    """One row of the approvals table."""

    id: str
    state: State
    area: str
    verb: str
    target: str
    summary: str
    plan: str
    target_state: str
    fingerprint: str
    requested_by: str
    channel_id: str
    message_ts: str | None
    reason: str
    created_at: float
    expires_at: float
    decided_by: str | None
    decided_at: float | None
    deny_reason: str | None
    started_at: float | None
    finished_at: float | None
    outcome: str | None
    updated_at: float
    runner: str | None
    heartbeat_at: float | None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Approval:
        values = dict(row._mapping)
        values["state"] = State(values["state"])
        return cls(**values)


class Created(NamedTuple):
    approval: Approval
    new: bool  # False: an identical request was already pending and this is it


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str  # plain words for the person who clicked
    approval: Approval | None  # the request as this call left it

    @property
    def won(self) -> bool:
        """This call approved, denied or withdrew the request."""
        return self.verdict in (Verdict.APPROVED, Verdict.DENIED, Verdict.WITHDRAWN)

    @property
    def moved(self) -> bool:
        """This call changed the request's state, so the request message needs redrawing."""
        return self.verdict in _MOVED


def fingerprint(plan_json: str, target_state: Mapping[str, Any]) -> str:
    """What an approver approves: the plan and the target's relevant state, hashed stably."""
    return hashlib.sha256(
        _canonical({"plan": json.loads(plan_json), "target": target_state}).encode()
    ).hexdigest()


def describe_changes(before_json: str, after: Mapping[str, Any]) -> str:
    """Which fields of the target's state differ, e.g. `quota: 1024 → 2048`."""
    before = json.loads(before_json)
    now = json.loads(_canonical(after))
    changes = [
        f"{key}: {_show(before.get(key))} → {_show(now.get(key))}"
        for key in sorted(before.keys() | now.keys())
        if before.get(key) != now.get(key)
    ]
    return "; ".join(changes) or "the target's state changed"


def describe(approval: Approval) -> str:
    """Where a request stands, in words for someone who clicks on it after it was decided."""
    by = f"<@{approval.decided_by}>"
    match approval.state:
        case State.PENDING:
            return f"waiting for approval until {_when(approval.expires_at)}"
        case State.APPROVED:
            return f"already approved by {by}"
        case State.RUNNING:
            return f"already approved by {by} and running"
        case State.DONE:
            return f"already done, approved by {by}"
        case State.FAILED:
            return f"approved by {by} but failed: {approval.outcome}; ask again to retry"
        case State.DENIED if approval.decided_by == approval.requested_by:
            return f"withdrawn by {by}"
        case State.DENIED:
            return f"denied by {by}" + (f": {approval.deny_reason}" if approval.deny_reason else "")
        case State.EXPIRED:
            return f"expired at {_when(approval.expires_at)} without approval; ask again if still needed"
        case State.INTERRUPTED:
            return INTERRUPTED_OUTCOME
        case State.REFUSED:
            return f"refused: the target changed since the request ({approval.outcome}); ask again"


def new_runner_id() -> str:
    """Names the process running an action (`host:pid:uuid`), so a stale one can be told apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class ApprovalStore:
    """Approval requests and their moves, on top of a Store (whose clock it uses)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # requests

    def create(
        self,
        *,
        area: str,
        verb: str,
        target: str,
        summary: str,
        plan: str,
        target_state: Mapping[str, Any],
        requested_by: str,
        channel_id: str,
        ttl: float,
        reason: str = "",
        correlation_id: str = "",
    ) -> Created:
        """Store a pending request, or return the identical one still pending (a re-typed command).

        `plan` is JSON with secrets already removed; `target_state` is what the approver sees of
        the target now, and what approve() compares against.
        """
        now = self.store.now()
        digest = fingerprint(plan, target_state)
        same = (
            approvals.c.area == area,
            approvals.c.verb == verb,
            approvals.c.target == target,
            approvals.c.fingerprint == digest,
            approvals.c.state == State.PENDING,
            approvals.c.expires_at > now,
        )
        with self.store.write() as conn:
            self.store.serialise(conn, f"approval:{area}:{verb}:{target}:{digest}")
            existing = conn.execute(sa.select(approvals).where(*same).limit(1)).first()
            if existing is not None:
                approval = Approval.from_row(existing)
                self._audit(
                    conn,
                    "request",
                    approval,
                    by=requested_by,
                    outcome="already pending",
                    correlation=correlation_id,
                )
                return Created(approval, new=False)
            row = conn.execute(
                sa.insert(approvals)
                .values(
                    id=secrets.token_urlsafe(9),
                    state=State.PENDING,
                    area=area,
                    verb=verb,
                    target=target,
                    summary=summary,
                    plan=plan,
                    target_state=_canonical(target_state),
                    fingerprint=digest,
                    requested_by=requested_by,
                    channel_id=channel_id,
                    reason=reason,
                    created_at=now,
                    expires_at=now + ttl,
                    updated_at=now,
                )
                .returning(*approvals.c)
            ).one()
            approval = Approval.from_row(row)
            self._audit(
                conn, "request", approval, by=requested_by, outcome=State.PENDING, correlation=correlation_id
            )
        APPROVALS.labels(state=State.PENDING).inc()
        return Created(approval, new=True)

    def get(self, approval_id: str) -> Approval | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(approvals).where(approvals.c.id == approval_id)).first()
        return None if row is None else Approval.from_row(row)

    def set_message(self, approval_id: str, channel_id: str, ts: str) -> bool:
        """Remember where the request was posted, so any replica can update that message later."""
        with self.store.write() as conn:
            changed = conn.execute(
                sa.update(approvals)
                .where(approvals.c.id == approval_id)
                .values(channel_id=channel_id, message_ts=ts, updated_at=self.store.now())
            )
        return changed.rowcount == 1

    def pending_for(self, target: str) -> list[Approval]:
        return self._pending(approvals.c.target == target)

    def list_pending(self) -> list[Approval]:
        return self._pending()

    def _pending(self, *where: sa.ColumnElement[bool]) -> list[Approval]:
        query = (
            sa.select(approvals)
            .where(approvals.c.state == State.PENDING, approvals.c.expires_at > self.store.now(), *where)
            .order_by(approvals.c.created_at)
        )
        with self.store.read() as conn:
            return [Approval.from_row(row) for row in conn.execute(query)]

    # decisions

    def approve(
        self,
        approval_id: str,
        approver: str,
        *,
        is_authorised: Callable[[str], bool],
        current_state: Callable[[Approval], Mapping[str, Any]],
    ) -> Decision:
        """Approve if every re-check passes and no one else got there first.

        `current_state` reads the target as it is now (from mailcow); if its fingerprint differs
        from the request's, the request is refused and the reason names the fields that changed.
        An exception from a callback propagates and leaves the request pending.
        """
        approval = self.get(approval_id)
        if approval is None:
            return self._refuse(Verdict.NOT_FOUND, NO_SUCH_REQUEST, approver, approval_id)
        if approver == approval.requested_by:
            own = "you asked for this; another approver has to approve it"
            return self._refuse(Verdict.OWN_REQUEST, own, approver, approval_id, approval)
        if not is_authorised(approver):
            return self._refuse(
                Verdict.NOT_ALLOWED, "you are not an approver", approver, approval_id, approval
            )
        if approval.state != State.PENDING:
            return self._refuse(Verdict.CLOSED, describe(approval), approver, approval_id, approval)
        if approval.expires_at <= self.store.now():
            return self._expire_one(approval, approver)
        state_now = current_state(approval)
        if fingerprint(approval.plan, state_now) != approval.fingerprint:
            return self._refuse_changed(
                approval, approver, describe_changes(approval.target_state, state_now)
            )

        now = self.store.now()
        with self.store.write() as conn:
            row = conn.execute(
                self._move(approval_id, State.PENDING, State.APPROVED, approvals.c.expires_at > now).values(
                    decided_by=approver, decided_at=now
                )
            ).first()
            if row is not None:
                approved = Approval.from_row(row)
                self._audit(conn, "approval", approved, by=approver, outcome=State.APPROVED)
        if row is None:
            return self._lost(approval_id, approver)
        APPROVALS.labels(state=State.APPROVED).inc()
        return Decision(Verdict.APPROVED, f"approved by <@{approver}>", approved)

    def deny(
        self, approval_id: str, user_id: str, reason: str = "", *, is_authorised: Callable[[str], bool]
    ) -> Decision:
        """An approver denies (with an optional reason), or the requester withdraws their request.

        A pending request just past its expiry can still be denied: it closes either way.
        """
        approval = self.get(approval_id)
        if approval is None:
            return self._refuse(Verdict.NOT_FOUND, NO_SUCH_REQUEST, user_id, approval_id)
        withdrawing = user_id == approval.requested_by
        if not withdrawing and not is_authorised(user_id):
            refusal = "only an approver or the person who asked can deny this"
            return self._refuse(Verdict.NOT_ALLOWED, refusal, user_id, approval_id, approval)
        if approval.state != State.PENDING:
            return self._refuse(Verdict.CLOSED, describe(approval), user_id, approval_id, approval)
        now = self.store.now()
        verdict = Verdict.WITHDRAWN if withdrawing else Verdict.DENIED
        with self.store.write() as conn:
            row = conn.execute(
                self._move(approval_id, State.PENDING, State.DENIED).values(
                    decided_by=user_id, decided_at=now, deny_reason=reason or None
                )
            ).first()
            if row is not None:
                denied = Approval.from_row(row)
                self._audit(conn, "denial", denied, by=user_id, outcome=verdict, detail=reason)
        if row is None:
            return self._lost(approval_id, user_id)
        APPROVALS.labels(state=State.DENIED).inc()
        return Decision(verdict, describe(denied), denied)

    # running

    def start(self, approval_id: str, runner: str) -> bool:
        """Claim an approved request for running; only one caller ever gets True."""
        now = self.store.now()
        with self.store.write() as conn:
            row = conn.execute(
                self._move(approval_id, State.APPROVED, State.RUNNING).values(
                    runner=runner, started_at=now, heartbeat_at=now
                )
            ).first()
            if row is not None:
                started = Approval.from_row(row)
                self._audit(
                    conn, "start", started, by=started.decided_by, outcome=State.RUNNING, detail=runner
                )
        if row is None:
            return False
        APPROVALS.labels(state=State.RUNNING).inc()
        return True

    def heartbeat(self, approval_id: str, runner: str) -> bool:
        """Show the runner is alive; False means the request was marked interrupted meanwhile."""
        with self.store.write() as conn:
            beat = conn.execute(
                sa.update(approvals)
                .where(
                    approvals.c.id == approval_id,
                    approvals.c.state == State.RUNNING,
                    approvals.c.runner == runner,
                )
                .values(heartbeat_at=self.store.now())
            )
        return beat.rowcount == 1

    def finish(self, approval_id: str, ok: bool, outcome: str) -> bool:
        """Record how the run ended (`outcome`: mailcow's answer, secrets already removed).

        False if the request was no longer running (marked interrupted because its heartbeat
        stopped): the state stays interrupted, and the audit trail still gets the real outcome.
        """
        now = self.store.now()
        state = State.DONE if ok else State.FAILED
        outcome = self.store.redact(outcome)
        with self.store.write() as conn:
            row = conn.execute(
                self._move(approval_id, State.RUNNING, state).values(finished_at=now, outcome=outcome)
            ).first()
            event = "execution" if ok else "failure"
            if row is not None:
                finished = Approval.from_row(row)
                duration = round((now - (finished.started_at or now)) * 1000)
                self._audit(
                    conn,
                    event,
                    finished,
                    by=finished.decided_by,
                    outcome=state,
                    detail=outcome,
                    duration=duration,
                )
            else:
                late = conn.execute(sa.select(approvals).where(approvals.c.id == approval_id)).first()
                if late is not None:
                    closed = Approval.from_row(late)
                    note = f"{state}, but the request was already {closed.state}"
                    self._audit(conn, event, closed, by=closed.decided_by, outcome=note, detail=outcome)
        if row is None:
            return False
        APPROVALS.labels(state=state).inc()
        return True

    # sweeps: run them periodically on any or every replica

    def expire_due(self) -> list[Approval]:
        """Move every pending request past its expiry to expired; returns the ones this call moved.

        Each expiry is returned to exactly one caller across replicas, which then updates its
        message. Works after a restart: the expiry is a stored time, not a timer.
        """
        return self._expire()

    def mark_interrupted(self, stale_after: float) -> list[Approval]:
        """Close approved or running requests whose process went silent for `stale_after` seconds.

        Approved-but-never-started counts too: its approver's process died between the two steps.
        Returns the requests this call closed, each to exactly one caller.
        """
        now = self.store.now()
        silent_since = sa.func.coalesce(approvals.c.heartbeat_at, approvals.c.decided_at)
        with self.store.write() as conn:
            self.store.serialise(conn, _SWEEP)
            rows = conn.execute(
                sa.update(approvals)
                .where(
                    approvals.c.state.in_([State.APPROVED, State.RUNNING]),
                    silent_since < now - stale_after,
                )
                .values(state=State.INTERRUPTED, finished_at=now, outcome=INTERRUPTED_OUTCOME, updated_at=now)
                .returning(*approvals.c)
            ).all()
            closed = [Approval.from_row(row) for row in rows]
            for approval in closed:
                self._audit(
                    conn, "interrupted", approval, outcome=State.INTERRUPTED, detail=approval.runner or ""
                )
        APPROVALS.labels(state=State.INTERRUPTED).inc(len(closed))
        return closed

    # helpers

    def _move(
        self, approval_id: str, from_state: State, to_state: State, *where: sa.ColumnElement[bool]
    ) -> sa.Update:
        """The conditional UPDATE behind every move: it changes the row only while in `from_state`."""
        return (
            sa.update(approvals)
            .where(approvals.c.id == approval_id, approvals.c.state == from_state, *where)
            .values(state=to_state, updated_at=self.store.now())
            .returning(*approvals.c)
        )

    def _expire(self, *where: sa.ColumnElement[bool]) -> list[Approval]:
        now = self.store.now()
        with self.store.write() as conn:
            self.store.serialise(conn, _SWEEP)
            rows = conn.execute(
                sa.update(approvals)
                .where(approvals.c.state == State.PENDING, approvals.c.expires_at <= now, *where)
                .values(state=State.EXPIRED, updated_at=now)
                .returning(*approvals.c)
            ).all()
            expired = [Approval.from_row(row) for row in rows]
            for approval in expired:
                self._audit(conn, "expiry", approval, outcome=State.EXPIRED)
        APPROVALS.labels(state=State.EXPIRED).inc(len(expired))
        return expired

    def _expire_one(self, approval: Approval, user_id: str) -> Decision:
        moved = self._expire(approvals.c.id == approval.id)
        if moved:
            return Decision(Verdict.EXPIRED, f"this request {describe(moved[0])}", moved[0])
        return self._lost(approval.id, user_id)

    def _refuse_changed(self, approval: Approval, approver: str, changes: str) -> Decision:
        now = self.store.now()
        with self.store.write() as conn:
            row = conn.execute(
                self._move(approval.id, State.PENDING, State.REFUSED).values(
                    decided_by=approver, decided_at=now, outcome=changes
                )
            ).first()
            if row is not None:
                refused = Approval.from_row(row)
                self._audit(
                    conn, "refusal", refused, by=approver, outcome=Verdict.TARGET_CHANGED, detail=changes
                )
        if row is None:
            return self._lost(approval.id, approver)
        APPROVALS.labels(state=State.REFUSED).inc()
        return Decision(Verdict.TARGET_CHANGED, describe(refused), refused)

    def _lost(self, approval_id: str, user_id: str) -> Decision:
        """Someone else moved the request between our read and our update: say where it stands."""
        approval = self.get(approval_id)
        if approval is None:
            return self._refuse(Verdict.NOT_FOUND, NO_SUCH_REQUEST, user_id, approval_id)
        if approval.state == State.PENDING and approval.expires_at <= self.store.now():
            return self._expire_one(approval, user_id)  # our update failed on the expiry condition
        return self._refuse(Verdict.CLOSED, describe(approval), user_id, approval_id, approval)

    def _refuse(
        self, verdict: Verdict, reason: str, user_id: str, approval_id: str, approval: Approval | None = None
    ) -> Decision:
        with self.store.write() as conn:
            if approval is None:
                self.store.record(
                    "refusal",
                    user_id=user_id,
                    outcome=verdict,
                    detail=reason,
                    approval_id=approval_id,
                    conn=conn,
                )
            else:
                self._audit(conn, "refusal", approval, by=user_id, outcome=verdict, detail=reason)
        return Decision(verdict, reason, approval)

    def _audit(
        self,
        conn: sa.Connection,
        event: str,
        approval: Approval,
        *,
        outcome: str,
        by: str | None = None,
        detail: str = "",
        correlation: str = "",
        duration: int | None = None,
    ) -> None:
        """Record `event` about `approval`, by user `by` (None: the bot itself, e.g. a sweep)."""
        self.store.record(
            event,
            user_id=by or "",
            channel_id=approval.channel_id,
            area=approval.area,
            verb=approval.verb,
            target=approval.target,
            outcome=outcome,
            detail=detail,
            duration_ms=duration,
            correlation_id=correlation,
            approval_id=approval.id,
            conn=conn,
        )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _show(value: Any) -> str:
    text = "(none)" if value is None else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
