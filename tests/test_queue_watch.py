"""`/mailcow queue watch`: configuration, one alert per incident updated in place, its buttons, recovery.

The app runs with an injected clock and no background thread: a test moves the clock and calls
`services.scheduler.run_pending()` (`tick`), which is what the scheduler thread does every second in
production. The clock starts at the wall-clock time because the queue stand-in stamps messages with
it, and the watch measures their age by the services' clock. The helpers here are shared with the
other watch tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import build_app, build_services
from bot.services import Services
from bot.settings import Settings
from tests import test_approvals as shared
from tests.fakes.db_plugin import FakeClock
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack, SlackCall
from tests.fakes.slack_plugin import (
    ALLOWED,
    ALLOWED_2,
    APPROVER,
    ELSEWHERE,
    OPERATOR,
    VIEWER,
    SlackDriver,
    dispatch_transport,
)
from tests.test_approvals import buttons, parents, readable, shown, wait_ephemeral, wait_shown

settings_overrides, services, bolt_app = shared.settings_overrides, shared.services, shared.bolt_app
INTERVAL = 60.0  # CHATOPS_WATCH_INTERVAL's default


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(float(int(time.time())))


# --- helpers shared by the watch tests ---------------------------------------------------------------


@dataclass
class Round:
    """What one polling round did in Slack."""

    posted: list[str]
    """Timestamps of new channel-level messages (alerts)."""
    updated: list[str]
    """Timestamps of messages redrawn with chat.update."""
    threaded: list[SlackCall]


def tick(services: Services, clock: FakeClock, fake_slack: FakeSlack, seconds: float = INTERVAL) -> Round:
    """Move the clock and run what is due, as the scheduler thread would."""
    seen, before = len(fake_slack.calls), set(parents(fake_slack))
    clock.advance(seconds)
    services.scheduler.run_pending()
    calls = fake_slack.calls[seen:]
    return Round(
        posted=[ts for ts in parents(fake_slack) if ts not in before],
        updated=[str(c.args["ts"]) for c in calls if c.method == "chat.update"],
        threaded=[c for c in calls if c.method == "chat.postMessage" and c.args.get("thread_ts")],
    )


def say(slack: SlackDriver, fake_slack: FakeSlack, text: str, *, user: str = OPERATOR) -> str:
    """Type `/mailcow text` and return the text of the message it posts in the channel."""
    seen = len(parents(fake_slack))
    assert slack.command(text, user=user).text == ""
    ts = fake_slack.wait_for(lambda s: len(p := parents(s)) > seen and p[seen])
    return str(fake_slack.messages[ts]["text"])


def last_details(fake_slack: FakeSlack) -> str:
    """The thread of the newest channel message, once it is there."""
    ts = parents(fake_slack)[-1]
    return str(fake_slack.wait_for(lambda s: thread_text(s, ts)))


def wait_told(fake_slack: FakeSlack, words: str) -> None:
    """Wait for an answer only the requester sees (its text or blocks) that contains `words`."""

    def told(fake: FakeSlack) -> bool:
        return any(words in f"{c.args.get('text')}\n{readable(c.args)}" for c in fake.ephemerals())

    fake_slack.wait_for(told)


def thread_text(fake_slack: FakeSlack, ts: str) -> str:
    return "\n".join(readable(c.args) for c in fake_slack.thread(ts))


def click_on(
    slack: SlackDriver,
    action_id: str,
    value: str,
    *,
    user: str,
    message_ts: str,
    thread_ts: str | None = None,
) -> None:
    """A click on a button of the message at `message_ts` (a reply in `thread_ts`'s thread, if given)."""
    message: dict[str, Any] = {"ts": message_ts, **({"thread_ts": thread_ts} if thread_ts else {})}
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "trigger_id": "trigger.click",
        "actions": [{"action_id": action_id, "value": value, "block_id": "b", "type": "button"}],
        "channel": {"id": ALLOWED},
        "container": {"type": "message", "channel_id": ALLOWED, "message_ts": message_ts},
        "message": message,
        "response_url": slack.fake.response_url(f"click-{action_id}-{user}"),
    }
    assert slack.interactive(payload).status == 200


def set_queue(fake_mailcow: FakeMailcow, *, deferred: int = 0, hold: int = 0) -> None:
    """Replace the queue with `deferred` deferred and `hold` held messages, 10 minutes old."""
    for qid in list(fake_mailcow.queue.rows):
        fake_mailcow.queue.pop(qid)
    for name, count in (("deferred", deferred), ("hold", hold)):
        if count:
            fake_mailcow.add_queue_items(count, queue_name=name)
    age_queue(fake_mailcow, 600)  # young enough for the default age threshold (4 h)


def age_queue(fake_mailcow: FakeMailcow, seconds: float, now: float | None = None) -> None:
    """Make every queued message `seconds` old at `now` (by default the wall clock)."""
    arrival = int((time.time() if now is None else now) - seconds)
    for qid, row in list(fake_mailcow.queue.rows.items()):
        fake_mailcow.queue.put(qid, {**row, "arrival_time": arrival})


# --- configuration --------------------------------------------------------------------------------


def test_a_watch_is_set_shown_in_status_and_survives_a_restart(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, settings: Settings, clock: FakeClock
) -> None:
    said = say(slack, fake_slack, f"queue watch <#{ALLOWED_2}|oncall> deferred=300 age=120")
    assert said == (
        f":white_check_mark: Mail queue watch on in <#{ALLOWED_2}>: "
        "alerts when total ≥ 500 or deferred ≥ 300 or oldest ≥ 2 h"
    )
    status = say(slack, fake_slack, "queue watch status", user=VIEWER)
    assert status == f"Mail queue watch: *on* in <#{ALLOWED_2}> · all under the thresholds"
    details = last_details(fake_slack)
    assert f"*Set by*\n<@{OPERATOR}> <!date^{int(clock())}^" in details
    assert "*Alerts when*\ntotal ≥ 500 or deferred ≥ 300 or oldest ≥ 2 h" in details
    assert "*Last check*\nnot yet" in details

    # Changing one threshold keeps the others and the channel.
    said = say(slack, fake_slack, "queue watch total=off")
    assert said.endswith(f"watch changed in <#{ALLOWED_2}>: alerts when deferred ≥ 300 or oldest ≥ 2 h")

    restarted = build_services(settings, clock=clock)
    try:
        again = SlackDriver(dispatch_transport(build_app(restarted, background=False)), fake_slack)
        status = say(again, fake_slack, "queue watch status", user=VIEWER)
        assert status.startswith(f"Mail queue watch: *on* in <#{ALLOWED_2}>")
    finally:
        shared.shut_down(restarted)


def test_only_operators_change_a_watch_and_bad_input_is_explained(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    slack.command("queue watch", user=VIEWER)
    assert wait_ephemeral(fake_slack, "Turning the Mail queue watch on, off or changing it needs an operator")
    for typed, told in (
        (f"queue watch <#{ELSEWHERE}|random>", f"<#{ELSEWHERE}> is not an allowed channel"),
        ("queue watch #ops", "`#ops` is not a channel I can tell"),
        ("queue watch deferred=lots", "`deferred=` must be a whole number, not `lots`"),
        ("queue watch age=-5", "`age=` (minutes) must be at least 0"),
        ("queue watch total=0 deferred=off age=0", "every threshold is off"),
        ("queue watch bounces=5", "unknown option `bounces=`"),
    ):
        slack.command(typed)
        wait_told(fake_slack, told)
    assert parents(fake_slack) == []


def test_status_and_off_when_never_set(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    assert say(slack, fake_slack, "queue watch status").startswith("Mail queue watch: *off*.")
    slack.command("queue watch off")
    assert wait_ephemeral(fake_slack, "The Mail queue watch is already off.")


# --- incidents ----------------------------------------------------------------------------------


def test_one_alert_per_incident_updated_in_place_then_recovered_in_its_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=3)
    say(slack, fake_slack, "queue watch deferred=10 total=off age=off")
    assert tick(services, clock, fake_slack).posted == []

    set_queue(fake_mailcow, deferred=12, hold=2)
    started = clock() + INTERVAL
    first = tick(services, clock, fake_slack)
    [alert] = first.posted
    message = fake_slack.messages[alert]
    assert message["channel"] == ALLOWED
    assert message["text"] == ":rotating_light: Mail queue over threshold: deferred 12 (threshold 10)"
    text = shown(fake_slack, alert)
    assert ":rotating_light: *Mail queue over threshold*: deferred *12* (threshold 10)" in text
    assert "*Total*\n14" in text and "*Deferred*\n12" in text and "*Hold*\n2" in text
    assert "*Top deferral reason*: " in text
    assert f"Since <!date^{int(started)}^" in text and "peak deferred 12" in text
    assert set(buttons(message)) == {"watch_queue_deferred", "watch_queue_flush", "watch_snooze"}

    fake_mailcow.add_queue_items(8, queue_name="deferred")
    second = tick(services, clock, fake_slack)
    assert (second.posted, second.updated) == ([], [alert])
    text = shown(fake_slack, alert)
    assert "deferred *20* (threshold 10)" in text and "(1 min) · last checked" in text
    assert f"last checked <!date^{int(clock())}^" in text

    set_queue(fake_mailcow, deferred=4)
    third = tick(services, clock, fake_slack)
    assert (third.posted, third.updated) == ([], [alert])
    text = shown(fake_slack, alert)
    assert text.startswith(":white_check_mark: *Mail queue recovered* <!date^")
    assert "under every threshold again after 2 min. This message is no longer updated." in text
    assert "peak deferred 20" in text
    assert buttons(fake_slack.messages[alert]) == {}
    [recovery] = third.threaded
    assert recovery.args["thread_ts"] == alert
    assert "*Recovered* <!date^" in readable(recovery.args) and "total 4 · deferred 4" in readable(
        recovery.args
    )
    assert tick(services, clock, fake_slack) == Round([], [], [])

    set_queue(fake_mailcow, deferred=11)
    [again] = tick(services, clock, fake_slack).posted
    assert again != alert
    assert services.store is not None
    events = [e.outcome for e in services.store.audit_entries(50) if e.event == "watch"]
    assert events == ["incident", "recovered", "incident"]


def test_the_oldest_message_not_on_hold_is_what_ages(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, hold=2)
    age_queue(fake_mailcow, 5 * 3600 - INTERVAL, clock())
    say(slack, fake_slack, "queue watch age=240 total=off deferred=off")
    assert tick(services, clock, fake_slack).posted == []  # held mail waits on purpose

    fake_mailcow.add_queue_items(1, queue_name="deferred")
    age_queue(fake_mailcow, 5 * 3600 - INTERVAL, clock())
    [alert] = tick(services, clock, fake_slack).posted
    assert "oldest *5 h* (threshold 4 h)" in shown(fake_slack, alert)


def test_snooze_stops_updates_for_an_hour_and_shows_on_the_message(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted

    click_on(slack, "watch_snooze", "queue", user=OPERATOR, message_ts=alert)
    text = wait_shown(fake_slack, alert, ":zzz: *Snoozed*")
    assert f"Snoozed* by <@{OPERATOR}> until <!date^{int(clock()) + 3600}^" in text
    assert "Resume alerts" in text and "Snooze 1 h" not in text
    assert "watch_resume" in buttons(fake_slack.messages[alert])
    fake_slack.wait_for(
        lambda s: any("snoozed this alert until" in readable(c.args) for c in s.thread(alert))
    )

    fake_mailcow.add_queue_items(5, queue_name="deferred")
    for _ in range(59):
        assert tick(services, clock, fake_slack) == Round([], [], [])
    woken = tick(services, clock, fake_slack, 2 * INTERVAL)
    assert woken.updated == [alert]
    text = shown(fake_slack, alert)
    assert "deferred *17*" in text and "Snoozed" not in text
    assert "watch_snooze" in buttons(fake_slack.messages[alert])


def test_a_recovery_while_snoozed_is_still_announced_and_resume_redraws(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    for action_id, notes in (("watch_snooze", 1), ("watch_resume", 2), ("watch_snooze", 3)):
        click_on(slack, action_id, "queue", user=OPERATOR, message_ts=alert)
        fake_slack.wait_for(lambda s, notes=notes: len(s.thread(alert)) == notes)  # the click's own line
        snoozed = ":zzz: *Snoozed*" in shown(fake_slack, alert)
        assert snoozed == (action_id == "watch_snooze")
        assert action_id not in buttons(fake_slack.messages[alert])  # it became the other one
    assert f"<@{OPERATOR}> resumed alerts." in thread_text(fake_slack, alert)

    set_queue(fake_mailcow)
    recovered = tick(services, clock, fake_slack)
    assert recovered.updated == [alert] and len(recovered.threaded) == 1
    assert "*Mail queue recovered*" in shown(fake_slack, alert)


def test_a_viewer_may_not_snooze(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    click_on(slack, "watch_snooze", "queue", user=VIEWER, message_ts=alert)
    assert wait_ephemeral(fake_slack, "This needs an operator")
    assert "Snoozed" not in shown(fake_slack, alert)


def test_an_unreadable_queue_is_neither_an_incident_nor_a_recovery(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted

    fake_mailcow.dockerapi_up = False  # mailcow now answers [] for the queue, as when it is empty
    failed = tick(services, clock, fake_slack)
    assert (failed.posted, failed.updated, failed.threaded) == ([], [alert], [])
    text = shown(fake_slack, alert)
    assert "Mail queue over threshold" in text and "deferred *12*" in text
    assert "The last check, <!date^" in text
    assert "failed: mailcow lists no queued mail, but postfix-mailcow is not reported by dockerapi" in text
    assert "The numbers above are from the last check that worked." in text
    status = say(slack, fake_slack, "queue watch status")
    assert "*incident open* since" in status
    assert "*failed*: mailcow lists no queued mail" in last_details(fake_slack)

    fake_mailcow.dockerapi_up = True
    tick(services, clock, fake_slack)
    assert "The last check" not in shown(fake_slack, alert)


def test_watch_off_closes_the_alert_and_stops_checking(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    said = say(slack, fake_slack, "queue watch off")
    assert said.startswith(
        ":white_check_mark: Mail queue watch *off* (it alerted in <#C0OPS> when total ≥ 500"
    )
    text = shown(fake_slack, alert)
    assert text.startswith(f":white_circle: *Mail queue alert closed*: <@{OPERATOR}> turned the watch off.")
    assert buttons(fake_slack.messages[alert]) == {}
    requests = len(fake_mailcow.calls("get/mailq"))
    assert tick(services, clock, fake_slack) == Round([], [], [])
    assert len(fake_mailcow.calls("get/mailq")) == requests


def test_moving_the_watch_closes_the_alert_and_alerts_in_the_new_channel(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    say(slack, fake_slack, f"queue watch <#{ALLOWED_2}|oncall>")
    assert f"<@{OPERATOR}> moved the watch to <#{ALLOWED_2}>" in shown(fake_slack, alert)
    [moved] = tick(services, clock, fake_slack).posted
    assert fake_slack.messages[moved]["channel"] == ALLOWED_2


# --- the alert's buttons --------------------------------------------------------------------------


def test_show_deferred_answers_in_the_alerts_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12, hold=3)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    click_on(slack, "watch_queue_deferred", "queue", user=VIEWER, message_ts=alert)
    text = fake_slack.wait_for(lambda s: len(s.thread(alert)) >= 2 and thread_text(s, alert))
    assert "Mail queue: *12* messages — deferred 12" in text and "matching `queue=deferred`" in text
    assert parents(fake_slack)[-1] == alert  # nothing new in the channel


def test_flush_from_the_alert_asks_for_an_approval_and_names_it_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    set_queue(fake_mailcow, deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted

    click_on(slack, "watch_queue_flush", "queue", user=VIEWER, message_ts=alert)
    assert wait_ephemeral(fake_slack, "This needs an operator")

    click_on(slack, "watch_queue_flush", "queue", user=OPERATOR, message_ts=alert)
    request_ts = fake_slack.wait_for(lambda s: (p := parents(s)) and p[-1] != alert and p[-1])
    request_id = buttons(fake_slack.messages[request_ts])["approval_approve"]["value"]
    assert shown(fake_slack, request_ts).startswith(":lock: *Approval needed:* Flush the mail queue")
    note = fake_slack.wait_for(lambda s: [c for c in s.thread(alert) if request_id in readable(c.args)])
    assert f"<@{OPERATOR}> asked for approval: Flush the mail queue" in readable(note[0].args)
    assert f"Request `{request_id}` waits for an approver: <https://test.slack.com/archives/" in readable(
        note[0].args
    )
    assert fake_mailcow.calls("edit/mailq") == []

    slack.click("approval_approve", request_id, user=APPROVER)
    wait_shown(fake_slack, request_ts, "*Done:*")
    assert [c.json_body for c in fake_mailcow.calls("edit/mailq")] == [
        {"items": [], "attr": {"action": "flush"}}
    ]
    assert fake_slack.violations == []


def test_the_watch_job_is_scheduled_once_although_two_areas_register_it(
    bolt_app: Any, services: Services
) -> None:
    assert services.scheduler.jobs.count("watch.poll") == 1
