"""Approvals end to end: signed slash commands and clicks in, the Slack and mailcow stand-ins out.

Each test asserts what a person sees (the request message as it is redrawn, ephemeral answers, the
thread) and what mailcow received. Time moves by hand (`FakeClock` injected into the services), and
the background jobs run when a test calls `run_pending()`, so nothing waits for a wall clock
(`tests/fakes/manual_app.py`).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.app import build_app, build_services
from bot.approvals import State
from bot.approvals.blocks import APPROVE, DENY, DENY_REASON
from bot.mailcow import calls
from bot.plans import GENERATED, STALE_AFTER, Plan, RuntimeSecret, run_now
from bot.scheduler import Scheduler
from bot.services import Origin, Services
from tests.fakes import manual_app
from tests.fakes.approval_plugin import DEFAULT_TTL, Ask, audit_events
from tests.fakes.db_plugin import CLOSED_PORT_DB, FakeClock, race_in_threads
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.manual_app import BOTH_DATABASES
from tests.fakes.reading import (
    buttons,
    parents,
    readable,
    shown,
    texts,
    wait_shown,
    wait_told,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import (
    ALLOWED,
    APPROVER,
    APPROVER_2,
    BOT_TOKEN,
    ELSEWHERE,
    GROUP,
    GROUP_MEMBER,
    OPERATOR,
    SIGNING_SECRET,
    VIEWER,
    SlackDriver,
    dispatch_transport,
    shut_down,
)

# The app with an injected clock and no background thread.
services, bolt_app = manual_app.services, manual_app.bolt_app


def queue_counts(fake_mailcow: FakeMailcow) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in fake_mailcow.queue.rows.values():
        counts[row["queue_name"]] = counts.get(row["queue_name"], 0) + 1
    return counts


# --- the request ---------------------------------------------------------------------------------


def test_a_destructive_command_posts_a_request_with_what_will_run_and_the_state_now(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    counts = queue_counts(fake_mailcow)
    request = ask('queue flush reason="mx.example.net is back"')

    message = fake_slack.messages[request.ts]
    text = shown(fake_slack, request.ts)
    assert message["text"].startswith(":lock: *Approval needed:* Flush the mail queue")
    assert "`POST /api/v1/edit/mailq` on the whole mail queue" in text
    assert '{"items": [], "attr": {"action": "flush"}}' in text
    assert f"*deferred*\n{counts['deferred']}" in text
    assert f"*total*\n{sum(counts.values())}" in text
    assert f"*Requested by*\n<@{OPERATOR}>" in text
    assert "*Reason*\nmx.example.net is back" in text
    assert "*Expires*\n<!date^1750000900^" in text and "(15 min after the request)" in text
    approve, deny = buttons(message)[APPROVE], buttons(message)[DENY]
    assert (approve["value"], deny["value"]) == (request.id, request.id)
    assert approve["style"] == "primary" and approve["confirm"]["confirm"]["text"] == "Approve and run"
    assert deny["style"] == "danger" and deny["confirm"]["title"]["text"] == "Deny this request?"
    assert fake_mailcow.writes() == []
    assert services.approvals is not None
    approval = services.approvals.get(request.id)
    assert approval is not None
    assert (approval.state, approval.reason, approval.message_ts) == (
        State.PENDING,
        "mx.example.net is back",
        request.ts,
    )


def test_an_approver_click_runs_it_once_and_the_message_shows_who_when_and_the_result(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    deferred = queue_counts(fake_mailcow)["deferred"]
    request = ask("queue flush")

    assert slack.click(APPROVE, request.id, user=APPROVER).status == 200
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    assert f"approved by <@{APPROVER}> <!date^1750000000^" in text
    assert "*Result:* queue command done · read back: " in text
    assert f"deferred: {deferred} → 0" in text
    assert APPROVE not in buttons(fake_slack.messages[request.ts])
    [flush] = fake_mailcow.calls("edit/mailq")
    assert flush.json_body == {"items": [], "attr": {"action": "flush"}}
    thread = fake_slack.wait_for(lambda s: s.thread(request.ts))
    details = "\n".join(readable(c.args) for c in thread)
    assert "Done: Flush the mail queue" in details
    assert "*mailcow answered*" in details and "• queue command done" in details
    assert "*Read back from mailcow*: active: " in details and f"deferred: {deferred} → 0" in details

    slack.click(APPROVE, request.id, user=APPROVER_2)
    assert wait_told(fake_slack, "already done")
    assert len(fake_mailcow.calls("edit/mailq")) == 1
    assert services.store is not None
    events = audit_events(services.store, request.id)
    assert events == ["request", "approval", "start", "execution", "refusal"]


def test_the_requester_cannot_approve_their_own_request(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush", user=APPROVER)
    slack.click(APPROVE, request.id, user=APPROVER)
    assert wait_told(fake_slack, "you asked for this; another approver has to approve it")
    assert "Approval needed" in shown(fake_slack, request.ts)
    assert fake_mailcow.calls("edit/mailq") == []

    slack.click(APPROVE, request.id, user=APPROVER_2)
    wait_shown(fake_slack, request.ts, f"approved by <@{APPROVER_2}>")


def test_a_non_approver_click_is_refused_ephemerally_with_the_reason(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    request = ask("queue flush")
    slack.click(APPROVE, request.id, user=OPERATOR)
    [refusal] = wait_told(fake_slack, "needs an approver")
    assert refusal == ":no_entry: This needs an approver, and you are not one. Ask a mail admin to add you."
    assert fake_mailcow.calls("edit/mailq") == []
    assert "Approval needed" in shown(fake_slack, request.ts)
    store = services.store
    assert store is not None
    [recorded] = fake_slack.wait_for(
        lambda _: [e for e in store.audit_entries(10, user_id=OPERATOR) if e.event == "refusal"]
    )
    assert f"block_actions approval_approve {request.id}: This needs an approver" in recorded.detail


def test_a_click_from_a_channel_that_is_not_allowed_is_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    slack.click(APPROVE, request.id, user=APPROVER, channel=ELSEWHERE)
    assert wait_told(fake_slack, f"<#{ELSEWHERE}> is not an allowed channel")
    assert fake_mailcow.calls("edit/mailq") == []
    assert "Approval needed" in shown(fake_slack, request.ts)


def test_an_expired_request_cannot_be_approved_and_shows_it_expired(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, clock: FakeClock, ask: Ask
) -> None:
    request = ask("queue flush")
    clock.advance(DEFAULT_TTL + 1)
    slack.click(APPROVE, request.id, user=APPROVER)
    assert wait_told(fake_slack, "Not approved: this request expired at")
    text = wait_shown(fake_slack, request.ts, "*Expired*")
    assert "Nothing ran. Ask again if it is still needed." in text
    assert buttons(fake_slack.messages[request.ts]) == {}
    assert fake_mailcow.calls("edit/mailq") == []


def test_the_sweeper_expires_requests_and_redraws_them(
    fake_slack: FakeSlack, services: Services, clock: FakeClock, ask: Ask
) -> None:
    settings = services.settings
    request = ask("queue flush")
    assert services.scheduler.run_pending() == ["approvals.expire", "approvals.interrupted", "watch.poll"]
    assert "Approval needed" in shown(fake_slack, request.ts)

    clock.advance(settings.approval_ttl)
    assert "approvals.expire" in services.scheduler.run_pending()
    assert "*Expired* <!date^1750000900^" in shown(fake_slack, request.ts)
    updates = len(fake_slack.calls_to("chat.update"))
    clock.advance(60)
    services.scheduler.run_pending()
    assert len(fake_slack.calls_to("chat.update")) == updates


def test_after_a_restart_a_pending_request_can_be_approved_and_another_still_expires(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock, ask: Ask
) -> None:
    settings = services.settings
    [held, other] = list(fake_mailcow.queue.rows)[:2]
    approved_later = ask(f"queue hold {held}")
    left_to_expire = ask(f"queue hold {other}")
    shut_down(services)

    restarted = build_services(settings, clock=clock)
    try:
        again = SlackDriver(dispatch_transport(build_app(restarted, background=False)), fake_slack)
        again.click(APPROVE, approved_later.id, user=APPROVER)
        wait_shown(fake_slack, approved_later.ts, "*Done:*")
        assert fake_mailcow.queue.rows[held]["queue_name"] == "hold"

        clock.advance(settings.approval_ttl)
        restarted.scheduler.run_pending()
        assert "*Expired*" in shown(fake_slack, left_to_expire.ts)
        assert fake_mailcow.queue.rows[other]["queue_name"] != "hold"
    finally:
        shut_down(restarted)


def test_deny_asks_for_an_optional_reason_records_it_and_the_message_shows_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    request = ask("queue flush")
    slack.click(DENY, request.id, user=APPROVER)
    opened = fake_slack.wait_calls("views.open")[0].args["view"]
    assert opened["callback_id"] == DENY_REASON
    assert json.loads(opened["private_metadata"]) == {"channel": ALLOWED, "approval": request.id}
    assert opened["blocks"][1]["optional"] is True

    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": DENY_REASON,
        "private_metadata": opened["private_metadata"],
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "not at 3 a.m."}}}},
    }
    assert slack.submit(view, user=APPROVER).text == ""
    text = wait_shown(fake_slack, request.ts, "*Denied* by")
    assert f"*Denied* by <@{APPROVER}>" in text and "*Reason:* not at 3 a.m." in text
    assert buttons(fake_slack.messages[request.ts]) == {}

    slack.click(APPROVE, request.id, user=APPROVER_2)
    assert wait_told(fake_slack, f"Not approved: denied by <@{APPROVER}>: not at 3 a.m.")
    assert fake_mailcow.calls("edit/mailq") == []
    assert services.store is not None
    [denial] = [e for e in services.store.audit_entries(20) if e.event == "denial"]
    assert (denial.user_id, denial.outcome, denial.detail) == (APPROVER, "denied", "not at 3 a.m.")


def test_only_an_approver_or_the_requester_may_deny_and_the_requester_withdraws(
    slack: SlackDriver, fake_slack: FakeSlack, ask: Ask
) -> None:
    request = ask("queue flush")
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": DENY_REASON,
        "private_metadata": json.dumps({"channel": ALLOWED, "approval": request.id}),
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": None}}}},
    }
    refused = slack.submit(view, user=VIEWER).json()
    assert refused["response_action"] == "update" and "needs an operator" in json.dumps(refused["view"])
    slack.submit(view, user=GROUP_MEMBER)  # an operator through the user group, but no approver
    assert wait_told(fake_slack, "Not denied: only an approver or the person who asked can deny this")
    assert "Approval needed" in shown(fake_slack, request.ts)

    slack.submit(view, user=OPERATOR)
    wait_shown(fake_slack, request.ts, f"*Withdrawn* by <@{OPERATOR}>")


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_APPROVERS": GROUP}], indirect=True)
def test_members_of_an_approver_user_group_may_approve(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    slack.click(APPROVE, request.id, user=GROUP_MEMBER)
    assert f"approved by <@{GROUP_MEMBER}>" in wait_shown(fake_slack, request.ts, "*Done:*")
    assert {c.args["usergroup"] for c in fake_slack.calls_to("usergroups.users.list")} == {GROUP}
    assert len(fake_mailcow.calls("edit/mailq")) == 1


# --- exactly once ---------------------------------------------------------------------------------


@BOTH_DATABASES
def test_twenty_concurrent_clicks_run_the_action_once(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    approvers = (APPROVER, APPROVER_2)
    answers = race_in_threads(20, lambda i: slack.click(APPROVE, request.id, user=approvers[i % 2]))
    assert [a.status for a in answers] == [200] * 20
    wait_shown(fake_slack, request.ts, "*Done:*")
    assert len(wait_told(fake_slack, "Not approved: already", count=19)) == 19
    assert len(fake_mailcow.calls("edit/mailq")) == 1


def test_a_retyped_command_finds_the_pending_request_instead_of_making_another(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    slack.command("queue flush", user=APPROVER_2)
    [notice] = wait_told(fake_slack, "The same request is already waiting for approval")
    assert f"request `{request.id}`" in notice
    assert parents(fake_slack) == [request.ts]

    slack.click(APPROVE, request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    assert len(fake_mailcow.calls("edit/mailq")) == 1


def test_a_target_that_changed_since_the_request_is_refused_saying_what_changed(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    before = queue_counts(fake_mailcow)
    request = ask("queue flush")
    fake_mailcow.add_queue_items(3, queue_name="deferred")
    slack.click(APPROVE, request.id, user=APPROVER)

    change = f"deferred: {before['deferred']} → {before['deferred'] + 3}"
    [told] = wait_told(fake_slack, "the target changed since the request")
    assert change in told
    text = wait_shown(fake_slack, request.ts, "*Not run, the target changed:*")
    assert change in text and "Ask again for a fresh request." in text
    assert fake_mailcow.calls("edit/mailq") == []


def test_approved_actions_on_the_same_target_never_interleave(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    spans: list[tuple[float, float]] = []
    handle = fake_mailcow.handle

    def timed(method: str, path: str, *args: Any) -> Any:
        started = time.monotonic()
        try:
            return handle(method, path, *args)
        finally:
            if path.startswith("/api/v1/edit/mailq"):
                spans.append((started, time.monotonic()))

    fake_mailcow.handle = timed  # type: ignore[method-assign]
    first, second = list(fake_mailcow.queue.rows)[:2]
    requests = [ask(f"queue hold {qid}") for qid in (first, second)]
    fake_mailcow.latency = 0.15
    race_in_threads(2, lambda i: slack.click(APPROVE, requests[i].id, user=APPROVER))
    for request in requests:
        wait_shown(fake_slack, request.ts, "*Done:*")

    (_, end_a), (start_b, _) = sorted(spans)
    assert end_a <= start_b, "the second write started while the first was still running"
    assert {fake_mailcow.queue.rows[q]["queue_name"] for q in (first, second)} == {"hold"}


def test_a_failure_shows_mailcows_answer_is_not_retried_and_a_new_request_can_run_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("queue flush")
    fake_mailcow.fail_next("edit/mailq", "danger:unknown")
    slack.click(APPROVE, request.id, user=APPROVER)

    text = wait_shown(fake_slack, request.ts, "*Failed:*")
    assert "*Outcome:* mailcow refused edit/mailq for the whole mail queue: " in text
    assert "the docker API gave no usable answer" in text
    assert "Nothing was retried. Ask again to run it again." in text
    assert "injected" not in fake_slack.all_text()  # the `log` field of mailcow's answer
    assert len(fake_mailcow.calls("edit/mailq")) == 1

    again = ask("queue flush")
    assert again.id != request.id
    slack.click(APPROVE, again.id, user=APPROVER_2)
    wait_shown(fake_slack, again.ts, "*Done:*")
    assert len(fake_mailcow.calls("edit/mailq")) == 2


def test_a_run_whose_process_died_is_marked_interrupted_and_the_message_says_so(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, clock: FakeClock, ask: Ask
) -> None:
    request = ask("queue flush")
    approvals = services.approvals
    assert approvals is not None
    approvals.approve(
        request.id, APPROVER, is_authorised=lambda _: True, current_state=lambda a: json.loads(a.target_state)
    )
    assert approvals.start(request.id, "a-process-that-dies")

    clock.advance(STALE_AFTER + 1)
    services.scheduler.run_pending()
    text = shown(fake_slack, request.ts)
    assert "*Interrupted:* Flush the mail queue" in text
    assert "check mailcow before asking again" in text
    state = approvals.get(request.id)
    assert state is not None and state.state == State.INTERRUPTED


# --- settings and the database -------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_DATABASE_URL": CLOSED_PORT_DB}], indirect=True)
def test_without_the_database_reads_work_and_changes_and_approvals_refuse_clearly(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("queue")
    assert fake_slack.wait_for(lambda s: s.posts(ALLOWED))[0].args["text"].startswith("Mail queue:")

    [held] = fake_mailcow.add_queue_items(1, queue_name="hold")
    for text in ("queue flush", f"queue release {held}"):
        slack.command(text)
    refusals = wait_told(fake_slack, "The bot's database is unavailable", count=2)
    assert all("Read commands still work." in r for r in refusals)
    slack.click(APPROVE, "some-request", user=APPROVER)
    wait_told(fake_slack, "The bot's database is unavailable", count=3)
    assert fake_mailcow.writes() == []
    assert len(parents(fake_slack)) == 1


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_APPROVERS": ""}], indirect=True)
def test_without_approvers_nothing_is_requested(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("queue flush")
    assert wait_told(fake_slack, "No approvers are configured (CHATOPS_APPROVERS)")
    assert parents(fake_slack) == []


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_EXTRA_APPROVALS": "queue.release"}], indirect=True)
def test_extra_approvals_add_verbs_that_need_an_approval(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    [held] = fake_mailcow.add_queue_items(1, queue_name="hold")
    request = ask(f"queue release {held}")
    assert fake_mailcow.calls("edit/mailq") == []
    slack.click(APPROVE, request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    assert fake_mailcow.queue.rows[held]["queue_name"] == "deferred"


# --- secrets ----------------------------------------------------------------------------------------


def test_a_stored_plan_refuses_secrets_and_a_runtime_secret_reaches_only_mailcow(
    services: Services, fake_mailcow: FakeMailcow, fake_slack: FakeSlack
) -> None:
    def password_plan(password: str, fill: list[RuntimeSecret]) -> Plan:
        call = calls.set_mailbox_password("alice@example.org", password, force_pw_update=True)
        return Plan(
            area="mailbox",
            verb="password",
            summary="Set a new password for alice@example.org",
            target="mailbox:alice@example.org",
            calls=[call],
            fill_at_run=fill,
        )

    with pytest.raises(ValueError, match="carries a secret in password, password2"):
        password_plan("Typed-in-Secret-1", []).stored_json()
    plan = password_plan(GENERATED, [RuntimeSecret(call=0, fields=["password", "password2"])])
    assert Plan.from_json(plan.stored_json()) == plan

    origin = Origin(channel_id=ALLOWED, user_id=OPERATOR, correlation_id="c0ffee")
    outcome = run_now(services, plan, origin)
    assert outcome.ok, outcome.error
    secret = outcome.secrets["password"]
    [sent] = fake_mailcow.calls("edit/mailbox")
    assert sent.json_body["attr"]["password"] == sent.json_body["attr"]["password2"] == secret
    assert secret not in json.dumps(texts([b.to_dict() for b in outcome.reply().blocks]))
    assert services.store is not None
    recorded = services.store.audit_entries(5)
    assert recorded[0].event == "execution" and '"password": "••••"' in recorded[0].detail
    everything = json.dumps([e.__dict__ for e in recorded]) + fake_slack.all_text()
    for value in (secret, fake_mailcow.api_key, BOT_TOKEN, SIGNING_SECRET):
        assert value not in everything


def test_a_plan_stops_at_the_first_failing_call_and_says_what_went_through(
    services: Services, fake_mailcow: FakeMailcow
) -> None:
    held, deleted = fake_mailcow.add_queue_items(2, queue_name="deferred", seed=5)
    plan = Plan(
        area="queue",
        verb="tidy",
        summary="Hold one message, delete another, hold a third",
        target="queue",
        calls=[
            calls.edit_mailq("hold", [held]),
            calls.delete_mailq([deleted]),
            calls.edit_mailq("hold", [held]),
        ],
    )
    fake_mailcow.fail_next("delete/mailq", "danger:unknown")
    outcome = run_now(services, plan, Origin(channel_id=ALLOWED, user_id=OPERATOR))

    assert [r.path for r in fake_mailcow.requests if not r.path.startswith("get/")] == [
        "edit/mailq",
        "delete/mailq",
    ]
    assert (
        outcome.error == f"mailcow refused delete/mailq for {deleted}: the docker API gave no usable answer."
    )
    assert outcome.text().endswith(f"(went through before that: POST /api/v1/edit/mailq on {held})")
    reply = outcome.reply()
    details = "\n".join(texts([b.to_dict() for b in reply.blocks]))
    assert reply.status == "error" and reply.headline.startswith("Failed: Hold one message")
    assert (
        "• queue command done" in details and "*mailcow's answer to `POST /api/v1/delete/mailq`*" in details
    )
    assert "1 of 3 call(s)" in details


# --- the scheduler ------------------------------------------------------------------------------------


def test_the_scheduler_runs_due_jobs_by_its_clock_and_stops_with_the_worker_pool() -> None:
    clock = FakeClock()
    ran: list[str] = []
    scheduler = Scheduler(clock)
    scheduler.every(10, "often", lambda: ran.append("often"))
    scheduler.every(60, "rarely", lambda: ran.append("rarely"))
    scheduler.every(5, "broken", lambda: 1 / 0)
    assert scheduler.run_pending() == ["often", "rarely", "broken"]
    assert scheduler.run_pending() == []
    clock.advance(10)
    assert scheduler.run_pending() == ["often", "broken"]
    assert ran == ["often", "rarely", "often"]

    pool = ThreadPoolExecutor(max_workers=1)
    clock.advance(60)
    scheduler.start(pool, resolution=0.01)
    deadline = time.monotonic() + 5
    while ran.count("rarely") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran.count("rarely") == 2
    pool.shutdown(wait=True)
    assert scheduler._thread is not None
    scheduler._thread.join(timeout=2)
    assert not scheduler._thread.is_alive()


def test_a_second_job_with_the_same_name_is_refused() -> None:
    scheduler = Scheduler()
    scheduler.every(1, "job", lambda: None)
    with pytest.raises(ValueError, match="already scheduled"):
        scheduler.every(1, "job", lambda: None)
