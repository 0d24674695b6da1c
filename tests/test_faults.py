"""Faults, end to end through Slack: nothing is lost. This module also holds what the other fault
modules share (`test_faults_mailcow.py`, `test_faults_slack.py`, `test_faults_db.py`).

A person types a command or clicks, something breaks (mailcow, Slack, the database, the process),
and the tests assert what that person, the channel and the audit trail see, and what mailcow
received. Here: an approved plan that fails half-way is failed, says what went through, and can be
asked for again; a process killed while its action runs leaves the request interrupted.

The app runs as in `test_approvals.py` (an injected clock, background jobs run by hand), with two
changes for faults: every mailcow call gives up after `TIMEOUT` seconds (docker-backed writes too,
which wait 75 s in production), and its HTTP transport is a `Gate` that can refuse connections.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_services
from bot.approvals import ApprovalStore, State
from bot.approvals.blocks import APPROVE
from bot.args import queue_id
from bot.mailcow import MailcowClient, calls
from bot.mailcow import client as mailcow_client
from bot.plans import STALE_AFTER, Plan, StateRef
from bot.roles import Role
from bot.services import Services
from bot.settings import Settings
from bot.store import Store
from commands import REGISTRY, Call, command
from tests import test_approvals as shared
from tests.fakes.db_plugin import FakeClock
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, APPROVER_2, SlackDriver
from tests.test_approvals import (
    Ask,
    Request,
    audit_events,
    buttons,
    parents,
    readable,
    shown,
    shut_down,
    wait_ephemeral,
    wait_shown,
)
from tests.test_limits import Answer, answer
from tests.test_two_processes import Cluster

TIMEOUT = 0.5
"""MAILCOW_TIMEOUT for the fault tests: what a stalled mailcow call costs."""

# The app with an injected clock and no background thread, as test_approvals runs it.
clock, bolt_app, ask = shared.clock, shared.bolt_app, shared.ask


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A short MAILCOW_TIMEOUT; an indirect parameter (a dict) adds settings of its own."""
    return {"MAILCOW_TIMEOUT": TIMEOUT, **getattr(request, "param", {})}


class Gate(httpx.HTTPTransport):
    """The bot's HTTP transport to mailcow, except that calls whose path (after /api/v1/) starts with
    one of `refused` go to a port nothing listens on: a real "connection refused", switched mid-test."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: tuple[str, ...] = ()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.closed_port = int(probe.getsockname()[1])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.removeprefix("/api/v1/").startswith(self.refused):
            request.url = request.url.copy_with(port=self.closed_port)
        return super().handle_request(request)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def services(
    settings: Settings, clock: FakeClock, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    # Queue actions wait up to 75 s for dockerapi in production; here they time out like any call,
    # and retries (of reads, and of writes that could not connect) back off for 10 ms, not 250.
    monkeypatch.setattr(mailcow_client, "SLOW_READ_TIMEOUT", 0.0)
    client = MailcowClient(
        settings.mailcow_url,
        settings.mailcow_api_key,
        timeout=settings.mailcow_timeout,
        verify_tls=settings.mailcow_verify_tls,
        cache_ttl=settings.cache_ttl,
        transport=gate,
        backoff=0.01,
    )
    built = build_services(settings, mailcow=client, clock=clock)
    yield built
    shut_down(built)


# --- what a person reads -------------------------------------------------------------------------


def thread_text(fake_slack: FakeSlack, ts: str) -> str:
    """Everything posted so far in the thread of the message at `ts`."""
    return "\n".join(f"{c.args.get('text', '')}\n{readable(c.args)}" for c in fake_slack.thread(ts))


def wait_thread(fake_slack: FakeSlack, ts: str, words: str) -> str:
    return str(fake_slack.wait_for(lambda s: words in (t := thread_text(s, ts)) and t))


def answer_to(slack: SlackDriver, fake_slack: FakeSlack, text: str, until: str) -> Answer:
    """An operator types `/mailcow text`: its new parent message and thread, once `until` is in them."""
    seen = len(parents(fake_slack))
    slack.command(text)
    fake_slack.wait_for(lambda s: len(parents(s)) > seen)
    return answer(fake_slack, until)


def ephemeral_words(fake_slack: FakeSlack) -> list[str]:
    """Text and blocks of each answer only its person saw through their response URL."""
    return [f"{c.args.get('text', '')}\n{readable(c.args)}" for c in fake_slack.calls_to("response_url")]


def approval_state(services: Services, approval_id: str) -> State:
    approvals = services.approvals
    assert approvals is not None
    approval = approvals.get(approval_id)
    assert approval is not None
    return approval.state


def failures(services: Services) -> list[str]:
    """Details of the audit trail's `failure` entries, newest first."""
    assert services.store is not None
    return [e.detail for e in services.store.audit_entries(100) if e.event == "failure"]


# --- plans no real verb builds yet ---------------------------------------------------------------


def hold_then_delete(call: Call) -> Plan:
    """Two calls on the queue: hold the first message, then delete the second."""
    held, deleted = (queue_id(token) for token in (call.args.take("HELD"), call.args.take("DELETED")))
    call.args.done()
    return Plan.of(
        call,
        summary=f"Hold {held}, then delete {deleted}",
        target="queue",
        calls=[calls.edit_mailq("hold", [held]), calls.delete_mailq([deleted])],
        state=StateRef(reader="queue", key=f"{held},{deleted}"),
    )


def purge_mailboxes(call: Call) -> Plan:
    """One call whose answer can be mixed: mailcow deletes the mailboxes it can and refuses the rest."""
    addresses = call.args.rest()
    call.args.done()
    return Plan.of(
        call,
        summary=f"Delete the mailboxes {', '.join(addresses)}",
        target=f"mailbox:{','.join(addresses)}",
        calls=[calls.delete_mailboxes(addresses)],
    )


@pytest.fixture
def test_verbs() -> Iterator[None]:
    """`/mailcow faults twostep HELD DELETED` (destructive) and `/mailcow faults purge ADDR…` (an
    operator's write that runs at once), registered for one test only."""
    command(
        "faults",
        "twostep",
        usage="faults twostep HELD DELETED",
        summary="hold one queued message, then delete another",
        example="faults twostep 3F2A1B9C0D 4E5F6A7B8C",
        destructive=True,
    )(hold_then_delete)
    command(
        "faults",
        "purge",
        usage="faults purge ADDRESS…",
        summary="delete mailboxes",
        example="faults purge jane@example.org",
        role=Role.OPERATOR,
    )(purge_mailboxes)
    try:
        yield
    finally:
        REGISTRY.by_area.pop("faults")


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
        wait_ephemeral(cluster.slack, "Not approved: interrupted: the process running it stopped")
        assert len(cluster.mailcow.calls("edit/mailq")) == 1

        again_ts, again = cluster.ask("a", "queue flush")
        assert again != approval_id
        cluster.replicas["a"].driver.click(APPROVE, again, user=APPROVER_2)
        wait_shown(cluster.slack, again_ts, "*Done:*")
        assert len(cluster.mailcow.calls("edit/mailq")) == 2
    finally:
        store.dispose()
        cluster.close()
