"""The approval state machine on real SQLite and PostgreSQL, including races between threads,
engines and OS processes. Time moves by hand (FakeClock), so nothing here sleeps."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest

from bot.approvals import (
    Approval,
    ApprovalStore,
    State,
    Verdict,
    describe,
    fingerprint,
    new_runner_id,
)
from bot.metrics import REGISTRY
from bot.store import Store, StoreUnavailable
from tests.fakes.db_plugin import FakeClock, race_in_processes, race_in_threads

TARGET = "mailbox:jane@example.org"
STATE = {"active": 1, "quota": 1024}
PLAN = json.dumps(
    {"calls": [{"method": "POST", "path": "/api/v1/delete/mailbox", "body": ["jane@example.org"]}]}
)


def anyone(_user: str) -> bool:
    return True


def nobody(_user: str) -> bool:
    return False


def unchanged(_approval: Approval) -> dict[str, Any]:
    return STATE


@pytest.fixture
def approvals(store: Store) -> ApprovalStore:
    return ApprovalStore(store)


def request(approvals: ApprovalStore, **changes: Any) -> Approval:
    fields: dict[str, Any] = {
        "area": "mailbox",
        "verb": "delete",
        "target": TARGET,
        "summary": "Delete the mailbox jane@example.org",
        "plan": PLAN,
        "target_state": STATE,
        "requested_by": "UREQ",
        "channel_id": "COPS",
        "ttl": 900,
    } | changes
    return approvals.create(**fields).approval


def approve(approvals: ApprovalStore, approval_id: str, approver: str = "UAPP", **checks: Any) -> Any:
    return approvals.approve(
        approval_id,
        approver,
        is_authorised=checks.get("is_authorised", anyone),
        current_state=checks.get("current_state", unchanged),
    )


def events(store: Store, approval_id: str) -> list[tuple[str, str]]:
    entries = [e for e in store.audit_entries(1000) if e.approval_id == approval_id]
    return [(e.event, e.outcome) for e in reversed(entries)]


def approvals_counted(state: str) -> float:
    return REGISTRY.get_sample_value("chatops_approvals_total", {"state": state}) or 0.0


# --- requests ---


def test_create_get_and_set_message(approvals: ApprovalStore, clock: FakeClock) -> None:
    created = approvals.create(
        area="mailbox",
        verb="delete",
        target=TARGET,
        summary="Delete the mailbox jane@example.org",
        plan=PLAN,
        target_state=STATE,
        requested_by="UREQ",
        channel_id="COPS",
        ttl=900,
        reason="she left",
    )
    approval = created.approval
    assert created.new
    assert len(approval.id) == 12
    assert set(approval.id) <= set(string.ascii_letters + string.digits + "-_")
    assert (approval.state, approval.requested_by, approval.reason) == (State.PENDING, "UREQ", "she left")
    assert approval.expires_at == clock() + 900
    assert approval.fingerprint == fingerprint(PLAN, STATE)
    assert approvals.get(approval.id) == approval
    assert approvals.get("no-such-id") is None

    assert approvals.set_message(approval.id, "COPS2", "1750000000.000100")
    stored = approvals.get(approval.id)
    assert stored is not None
    assert (stored.channel_id, stored.message_ts) == ("COPS2", "1750000000.000100")
    assert [a.id for a in approvals.list_pending()] == [approval.id]
    assert [a.id for a in approvals.pending_for(TARGET)] == [approval.id]
    assert approvals.pending_for("queue") == []


def test_the_fingerprint_covers_plan_and_target_state_and_ignores_formatting() -> None:
    same_plan = json.dumps(json.loads(PLAN), indent=2)
    assert fingerprint(PLAN, {"quota": 1024, "active": 1}) == fingerprint(same_plan, STATE)
    assert fingerprint(PLAN, STATE | {"quota": 2048}) != fingerprint(PLAN, STATE)
    assert fingerprint(json.dumps({"calls": []}), STATE) != fingerprint(PLAN, STATE)


def test_a_retyped_command_returns_the_pending_request(approvals: ApprovalStore, clock: FakeClock) -> None:
    first = request(approvals)
    again = approvals.create(
        area="mailbox", verb="delete", target=TARGET, summary="…", plan=PLAN,
        target_state=STATE, requested_by="UOTHER", channel_id="COPS", ttl=900,
    )  # fmt: skip
    assert (again.new, again.approval.id) == (False, first.id)
    assert request(approvals, target_state=STATE | {"quota": 1}).id != first.id  # a different target state
    clock.advance(900)  # the first one expired, even before a sweep noticed
    assert request(approvals).id != first.id


# --- approve: the re-checks, in order ---


def test_the_requester_cannot_approve(approvals: ApprovalStore) -> None:
    approval = request(approvals)
    decision = approve(approvals, approval.id, "UREQ")
    assert (decision.verdict, decision.won) == (Verdict.OWN_REQUEST, False)
    assert decision.reason == "you asked for this; another approver has to approve it"
    assert approvals.get(approval.id).state == State.PENDING  # type: ignore[union-attr]


def test_someone_not_authorised_cannot_approve(approvals: ApprovalStore, store: Store) -> None:
    approval = request(approvals)
    decision = approve(approvals, approval.id, "UNOBODY", is_authorised=nobody)
    assert (decision.verdict, decision.reason) == (Verdict.NOT_ALLOWED, "you are not an approver")
    assert events(store, approval.id)[-1] == ("refusal", "not_allowed")


def test_an_unknown_request_cannot_be_approved(approvals: ApprovalStore) -> None:
    decision = approve(approvals, "nonexistent1")
    assert (decision.verdict, decision.approval) == (Verdict.NOT_FOUND, None)


def test_an_expired_request_is_refused_and_expired_exactly_once(
    approvals: ApprovalStore, store: Store, clock: FakeClock
) -> None:
    approval = request(approvals)
    clock.advance(900)
    decision = approve(approvals, approval.id)
    assert (decision.verdict, decision.moved) == (Verdict.EXPIRED, True)
    assert decision.reason.startswith("this request expired at 2025-06-15 15:21 UTC without approval")
    assert approvals.get(approval.id).state == State.EXPIRED  # type: ignore[union-attr]

    again = approve(approvals, approval.id, "UAPP2")
    assert (again.verdict, again.moved) == (Verdict.CLOSED, False)
    assert again.reason.startswith("expired at")
    assert approvals.expire_due() == []
    assert [event for event, _ in events(store, approval.id)].count("expiry") == 1


def test_a_changed_target_is_refused_saying_what_changed(approvals: ApprovalStore) -> None:
    approval = request(approvals)
    decision = approve(approvals, approval.id, current_state=lambda _: {"active": 1, "quota": 2048})
    assert (decision.verdict, decision.won, decision.moved) == (Verdict.TARGET_CHANGED, False, True)
    assert decision.reason == "refused: the target changed since the request (quota: 1024 → 2048); ask again"
    refused = approvals.get(approval.id)
    assert refused is not None
    assert (refused.state, refused.outcome) == (State.REFUSED, "quota: 1024 → 2048")
    assert approve(approvals, approval.id).verdict == Verdict.CLOSED
    assert request(approvals, target_state={"active": 1, "quota": 2048}).id != approval.id


def test_a_second_approver_is_told_who_approved(approvals: ApprovalStore) -> None:
    approval = request(approvals)
    assert approve(approvals, approval.id, "UAPP").won
    late = approve(approvals, approval.id, "UAPP2")
    assert (late.verdict, late.reason) == (Verdict.CLOSED, "already approved by <@UAPP>")


# --- deny ---


def test_an_approver_denies_with_a_reason(approvals: ApprovalStore, store: Store) -> None:
    approval = request(approvals)
    decision = approvals.deny(approval.id, "UAPP", "not during office hours", is_authorised=anyone)
    assert (decision.verdict, decision.won) == (Verdict.DENIED, True)
    assert decision.reason == "denied by <@UAPP>: not during office hours"
    denied = decision.approval
    assert denied is not None
    assert (denied.state, denied.decided_by, denied.deny_reason) == (
        State.DENIED,
        "UAPP",
        "not during office hours",
    )
    assert approve(approvals, approval.id, "UAPP2").reason == "denied by <@UAPP>: not during office hours"
    assert events(store, approval.id)[-2] == ("denial", "denied")


def test_the_requester_withdraws_and_others_cannot_deny(approvals: ApprovalStore) -> None:
    approval = request(approvals)
    refused = approvals.deny(approval.id, "UPASSERBY", is_authorised=nobody)
    assert refused.verdict == Verdict.NOT_ALLOWED
    withdrawn = approvals.deny(approval.id, "UREQ", is_authorised=nobody)
    assert (withdrawn.verdict, withdrawn.reason) == (Verdict.WITHDRAWN, "withdrawn by <@UREQ>")
    assert approvals.deny(approval.id, "UAPP", is_authorised=anyone).verdict == Verdict.CLOSED


# --- running ---


def test_an_approved_action_starts_once_and_finishes(
    approvals: ApprovalStore, store: Store, clock: FakeClock
) -> None:
    approved_before = approvals_counted("approved")
    approval = request(approvals)
    assert approve(approvals, approval.id).won
    runner = new_runner_id()
    assert approvals.start(approval.id, runner)
    assert not approvals.start(approval.id, new_runner_id())
    clock.advance(2.5)
    assert approvals.heartbeat(approval.id, runner)
    assert not approvals.heartbeat(approval.id, "someone-else")
    assert approvals.finish(approval.id, ok=True, outcome="mailbox jane@example.org deleted")

    done = approvals.get(approval.id)
    assert done is not None
    assert (done.state, done.runner, done.outcome) == (State.DONE, runner, "mailbox jane@example.org deleted")
    assert describe(done) == "already done, approved by <@UAPP>"
    assert events(store, approval.id) == [
        ("request", "pending"),
        ("approval", "approved"),
        ("start", "running"),
        ("execution", "done"),
    ]
    assert store.audit_entries(1)[0].duration_ms == 2500
    assert approvals_counted("approved") == approved_before + 1


def test_a_failed_action_is_final_and_can_be_asked_for_again(approvals: ApprovalStore) -> None:
    approval = request(approvals)
    assert approve(approvals, approval.id).won
    assert approvals.start(approval.id, new_runner_id())
    assert approvals.finish(approval.id, ok=False, outcome="mailcow: mailbox is still in use")
    failed = approvals.get(approval.id)
    assert failed is not None
    assert (failed.state, failed.outcome) == (State.FAILED, "mailcow: mailbox is still in use")
    assert "failed: mailcow: mailbox is still in use" in approve(approvals, approval.id, "UAPP2").reason
    retry = request(approvals)
    assert retry.id != approval.id
    assert approve(approvals, retry.id).won


def test_silent_runners_are_marked_interrupted_once(
    approvals: ApprovalStore, store: Store, clock: FakeClock
) -> None:
    stale = request(approvals, target="mailbox:a@example.org")
    never_started = request(approvals, target="mailbox:b@example.org")
    alive = request(approvals, target="mailbox:c@example.org")
    waiting = request(approvals, target="mailbox:d@example.org")
    for approval in (stale, never_started, alive):
        assert approve(approvals, approval.id).won
    assert approvals.start(stale.id, "host:1:dead")
    assert approvals.start(alive.id, "host:2:alive")
    clock.advance(120)
    assert approvals.heartbeat(alive.id, "host:2:alive")

    closed = approvals.mark_interrupted(stale_after=60)
    assert {a.id for a in closed} == {stale.id, never_started.id}
    assert {a.state for a in closed} == {State.INTERRUPTED}
    assert approvals.mark_interrupted(stale_after=60) == []
    assert approvals.get(alive.id).state == State.RUNNING  # type: ignore[union-attr]
    assert approvals.get(waiting.id).state == State.PENDING  # type: ignore[union-attr]

    # the dead runner was only slow: its late result is kept in the audit trail, the state stays
    assert not approvals.heartbeat(stale.id, "host:1:dead")
    assert not approvals.finish(stale.id, ok=True, outcome="deleted after all")
    assert approvals.get(stale.id).state == State.INTERRUPTED  # type: ignore[union-attr]
    assert events(store, stale.id)[-1] == ("execution", "done, but the request was already interrupted")


# --- exactly once, across threads, engines, processes and restarts ---


def test_twenty_concurrent_clicks_approve_and_start_once(db_url: str) -> None:
    store = Store(db_url)
    approvals = ApprovalStore(store)
    approval = request(approvals)

    def click(i: int) -> tuple[bool, bool]:
        decision = approve(approvals, approval.id, f"UAPP{i}")
        return decision.won, approvals.start(approval.id, f"runner-{i}")

    outcomes = race_in_threads(20, click)
    assert sum(won for won, _ in outcomes) == 1
    assert sum(started for _, started in outcomes) == 1
    assert approvals.get(approval.id).state == State.RUNNING  # type: ignore[union-attr]
    store.dispose()


def test_the_same_command_typed_twenty_times_at_once_makes_one_request(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    approvals = ApprovalStore(store)

    def retype(_: int) -> tuple[bool, str]:
        result = approvals.create(
            area="queue", verb="flush", target="queue", summary="Flush the queue", plan="{}",
            target_state={"messages": 12}, requested_by="UREQ", channel_id="COPS", ttl=900,
        )  # fmt: skip
        return result.new, result.approval.id

    created = race_in_threads(20, retype)
    assert sorted(new for new, _ in created) == [False] * 19 + [True]
    assert len({approval_id for _, approval_id in created}) == 1
    store.dispose()


def _click_ten_times(barrier: Any, url: str, approval_id: str) -> tuple[int, int]:
    store = Store(url)
    approvals = ApprovalStore(store)
    store.migrate()
    barrier.wait(timeout=30)
    won = started = 0
    for i in range(10):
        won += approve(approvals, approval_id, f"UAPP{i}").won
        started += approvals.start(approval_id, new_runner_id())
    store.dispose()
    return won, started


def test_two_processes_clicking_approve_run_it_once(db_url: str) -> None:
    store = Store(db_url)
    approval = request(ApprovalStore(store))
    results = race_in_processes(_click_ten_times, db_url, approval.id)
    assert [sum(column) for column in zip(*results, strict=True)] == [1, 1]
    store.dispose()


def test_two_replicas_sweeping_expiries_report_each_once(db_url: str, clock: FakeClock) -> None:
    replicas = [ApprovalStore(Store(db_url, now=clock)) for _ in range(2)]
    ids = {request(replicas[0], target=f"mailbox:u{i}@example.org", ttl=60).id for i in range(30)}
    clock.advance(60)
    swept = race_in_threads(2, lambda i: replicas[i].expire_due())
    reported = [a.id for a in swept[0] + swept[1]]
    assert sorted(reported) == sorted(ids)
    assert all(a.state == State.EXPIRED for a in swept[0] + swept[1])
    for replica in replicas:
        replica.store.dispose()


def test_a_restart_keeps_requests_approvable_and_expiring(db_url: str, clock: FakeClock) -> None:
    before = Store(db_url, now=clock)
    to_approve = request(ApprovalStore(before), target="mailbox:a@example.org")
    to_expire = request(ApprovalStore(before), target="mailbox:b@example.org", ttl=600)
    before.dispose()  # the process is gone; only the database remains

    after = Store(db_url, now=clock)
    approvals = ApprovalStore(after)
    assert {a.id for a in approvals.list_pending()} == {to_approve.id, to_expire.id}
    assert approve(approvals, to_approve.id).won
    clock.advance(600)
    assert [a.id for a in approvals.expire_due()] == [to_expire.id]
    after.dispose()


def test_without_the_database_approvals_refuse_clearly() -> None:
    approvals = ApprovalStore(Store("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1))
    with pytest.raises(StoreUnavailable, match="cannot be used right now"):
        approve(approvals, "abcdefabcdef")
