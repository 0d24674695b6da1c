"""Faults, end to end through Slack: nothing is lost. The other fault modules
(`test_faults_mailcow.py`, `test_faults_slack.py`, `test_faults_db.py`) run the app the same way.

A person types a command or clicks, something breaks (mailcow, Slack, the database, the process),
and the tests assert what that person, the channel and the audit trail see, and what mailcow
received. Here: an approved plan that fails half-way is failed, says what went through, and can be
asked for again; a process killed while its action runs leaves the request interrupted.

The app runs as `tests/fakes/faults.py` sets it up: an injected clock, background jobs run by hand,
every mailcow call given up after `TIMEOUT` seconds, and an HTTP transport (`Gate`) that can refuse
connections.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.approvals import ApprovalStore, State
from bot.approvals.blocks import APPROVE
from bot.plans import STALE_AFTER
from bot.services import Services
from bot.store import Store
from tests.fakes import faults, manual_app
from tests.fakes.approval_plugin import Ask, Request, approval_state, audit_events
from tests.fakes.faults import failures
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.processes import Cluster
from tests.fakes.reading import buttons, shown, wait_shown, wait_thread, wait_told
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, APPROVER_2, SlackDriver

# The app as the fault tests run it (tests/fakes/faults.py).
settings_overrides, services, bolt_app = faults.settings_overrides, faults.services, manual_app.bolt_app
gate, test_verbs = faults.gate, faults.test_verbs


# --- nothing lost --------------------------------------------------------------------------------


@dataclass
class HalfWay:
    """An approved `faults twostep` whose hold went through and whose delete mailcow refused."""

    request: Request
    held: str
    deleted: str


@pytest.fixture
def half_way(slack: SlackDriver, fake_mailcow: FakeMailcow, ask: Ask, test_verbs: None) -> HalfWay:
    held, deleted = fake_mailcow.add_queue_items(2, queue_name="deferred", seed=11)
    request = ask(f"faults twostep {held} {deleted}")
    fake_mailcow.fail_next("delete/mailq", "danger:unknown")
    slack.click(APPROVE, request.id, user=APPROVER)
    return HalfWay(request, held, deleted)


def test_an_approved_plan_that_fails_half_way_is_failed_says_what_went_through_and_can_run_again(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    *,
    ask: Ask,
    half_way: HalfWay,
) -> None:
    request, held, deleted = half_way.request, half_way.held, half_way.deleted
    refusal = f"mailcow refused delete/mailq for {deleted}: the docker API gave no usable answer."
    text = wait_shown(fake_slack, request.ts, "*Failed:*")
    assert f"*Outcome:* {refusal} (went through before that: POST /api/v1/edit/mailq" in text
    assert "Nothing was retried. Ask again to run it again." in text
    assert APPROVE not in buttons(fake_slack.messages[request.ts])
    details = wait_thread(fake_slack, request.ts, f"Failed: Hold {held}, then delete {deleted}")
    assert f"*`POST /api/v1/edit/mailq`* on {held}\n• queue command done" in details
    assert f"*mailcow's answer to `POST /api/v1/delete/mailq`*\n{refusal}" in details
    assert "1 of 2 call(s)" in details
    assert [r.path for r in fake_mailcow.requests if not r.path.startswith("get/")] == [
        "edit/mailq",
        "delete/mailq",
    ]
    assert fake_mailcow.queue.rows[held]["queue_name"] == "hold"
    assert deleted in fake_mailcow.queue.rows
    assert approval_state(services, request.id) == State.FAILED
    assert services.store is not None
    assert audit_events(services.store, request.id) == ["request", "approval", "start", "failure"]
    assert refusal in failures(services)[0]

    again = ask(f"faults twostep {held} {deleted}")
    assert again.id != request.id
    assert f"*{held}*\nhold" in shown(fake_slack, again.ts), "the new request shows what went through"
    slack.click(APPROVE, again.id, user=APPROVER_2)
    wait_shown(fake_slack, again.ts, "*Done:*")
    assert deleted not in fake_mailcow.queue.rows
    assert len(fake_mailcow.calls("delete/mailq")) == 2


def test_the_request_message_and_the_audit_trail_name_what_the_calls_that_went_through_acted_on(
    fake_slack: FakeSlack, services: Services, half_way: HalfWay
) -> None:
    went = f"went through before that: POST /api/v1/edit/mailq on {half_way.held}"
    assert went in wait_shown(fake_slack, half_way.request.ts, "*Failed:*")
    assert went in failures(services)[0]


def test_a_process_killed_while_its_action_runs_leaves_it_interrupted_never_pending_or_done(
    tmp_path: Path,
) -> None:
    cluster = Cluster(f"sqlite:///{tmp_path / 'chatops.db'}", tmp_path)
    store = Store(cluster.database)
    approvals = ApprovalStore(store)

    def state_of(approval_id: str) -> State:
        approval = approvals.get(approval_id)
        assert approval is not None
        return approval.state

    try:
        cluster.start("a")
        ts, approval_id = cluster.ask("a", "queue flush")
        cluster.mailcow.stall_seconds = 30  # mailcow takes the flush and the process dies meanwhile
        cluster.mailcow.fail_next("edit/mailq", "timeout")
        cluster.replicas["a"].driver.click(APPROVE, approval_id, user=APPROVER)
        wait_shown(cluster.slack, ts, "*Running:*")
        cluster.slack.wait_for(lambda _: cluster.mailcow.calls("edit/mailq"))
        cluster.replicas["a"].stop(signal.SIGKILL)
        assert state_of(approval_id) == State.RUNNING

        cluster.start("a")  # the same single-replica deployment, restarted
        cluster.advance(STALE_AFTER + 1)
        text = wait_shown(cluster.slack, ts, "*Interrupted:*")
        assert (
            "the process running it stopped before reporting an outcome; check mailcow before asking again"
        ) in text
        assert "Running" not in text and "*Done:*" not in text
        assert buttons(cluster.slack.messages[ts]) == {}
        assert state_of(approval_id) == State.INTERRUPTED
        assert audit_events(store, approval_id)[-1] == "interrupted"

        cluster.replicas["a"].driver.click(APPROVE, approval_id, user=APPROVER_2)
        wait_told(cluster.slack, "Not approved: interrupted: the process running it stopped")
        assert len(cluster.mailcow.calls("edit/mailq")) == 1

        again_ts, again = cluster.ask("a", "queue flush")
        assert again != approval_id
        cluster.replicas["a"].driver.click(APPROVE, again, user=APPROVER_2)
        wait_shown(cluster.slack, again_ts, "*Done:*")
        assert len(cluster.mailcow.calls("edit/mailq")) == 2
    finally:
        store.dispose()
        cluster.close()
