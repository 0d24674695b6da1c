"""`/mailcow queue watch`: configuration, one alert per incident updated in place, its buttons, recovery.

The app runs with an injected clock and no background thread: a test moves the clock and calls
`services.scheduler.run_pending()` (`tick`), which is what the scheduler thread does every second in
production. The clock starts at the wall-clock time because the queue stand-in stamps messages with
it, and the watch measures their age by the services' clock.
"""

from __future__ import annotations

from typing import Any

from bot.app import build_app, build_services
from bot.services import Services
from bot.settings import Settings
from tests.fakes import manual_app
from tests.fakes.db_plugin import FakeClock
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.manual_app import INTERVAL, Round, tick
from tests.fakes.reading import (
    buttons,
    parents,
    readable,
    say,
    shown,
    thread_text,
    wait_shown,
    wait_told,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import (
    ALLOWED,
    ALLOWED_2,
    APPROVER,
    ELSEWHERE,
    OPERATOR,
    VIEWER,
    SlackDriver,
    dispatch_transport,
    shut_down,
)

# The app with an injected clock that starts at the wall-clock time, and no background thread.
clock, services, bolt_app = manual_app.watch_clock, manual_app.services, manual_app.bolt_app


def last_details(fake_slack: FakeSlack) -> str:
    """The thread of the newest channel message, once it is there."""
    ts = parents(fake_slack)[-1]
    return str(fake_slack.wait_for(lambda s: thread_text(s, ts)))


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
        shut_down(restarted)


def test_only_operators_change_a_watch_and_bad_input_is_explained(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    slack.command("queue watch", user=VIEWER)
    assert wait_told(fake_slack, "Turning the Mail queue watch on, off or changing it needs an operator")
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
    assert wait_told(fake_slack, "The Mail queue watch is already off.")


# --- incidents ----------------------------------------------------------------------------------


def test_one_alert_per_incident_updated_in_place_then_recovered_in_its_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(deferred=3)
    say(slack, fake_slack, "queue watch deferred=10 total=off age=off")
    assert tick(services, clock, fake_slack).posted == []

    fake_mailcow.set_queue(deferred=12, hold=2)
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

    fake_mailcow.set_queue(deferred=4)
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

    fake_mailcow.set_queue(deferred=11)
    [again] = tick(services, clock, fake_slack).posted
    assert again != alert
    assert services.store is not None
    events = [e.outcome for e in services.store.audit_entries(50) if e.event == "watch"]
    assert events == ["incident", "recovered", "incident"]


def test_the_oldest_message_not_on_hold_is_what_ages(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(hold=2)
    fake_mailcow.age_queue(5 * 3600 - INTERVAL, clock())
    say(slack, fake_slack, "queue watch age=240 total=off deferred=off")
    assert tick(services, clock, fake_slack).posted == []  # held mail waits on purpose

    fake_mailcow.add_queue_items(1, queue_name="deferred")
    fake_mailcow.age_queue(5 * 3600 - INTERVAL, clock())
    [alert] = tick(services, clock, fake_slack).posted
    assert "oldest *5 h* (threshold 4 h)" in shown(fake_slack, alert)


def test_snooze_stops_updates_for_an_hour_and_shows_on_the_message(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted

    assert slack.click("watch_snooze", "queue", user=OPERATOR, message_ts=alert).status == 200
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
    fake_mailcow.set_queue(deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    for action_id, notes in (("watch_snooze", 1), ("watch_resume", 2), ("watch_snooze", 3)):
        assert slack.click(action_id, "queue", user=OPERATOR, message_ts=alert).status == 200
        fake_slack.wait_for(lambda s, notes=notes: len(s.thread(alert)) == notes)  # the click's own line
        snoozed = ":zzz: *Snoozed*" in shown(fake_slack, alert)
        assert snoozed == (action_id == "watch_snooze")
        assert action_id not in buttons(fake_slack.messages[alert])  # it became the other one
    assert f"<@{OPERATOR}> resumed alerts." in thread_text(fake_slack, alert)

    fake_mailcow.set_queue()
    recovered = tick(services, clock, fake_slack)
    assert recovered.updated == [alert] and len(recovered.threaded) == 1
    assert "*Mail queue recovered*" in shown(fake_slack, alert)


def test_a_viewer_may_not_snooze(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    assert slack.click("watch_snooze", "queue", user=VIEWER, message_ts=alert).status == 200
    assert wait_told(fake_slack, "This needs an operator")
    assert "Snoozed" not in shown(fake_slack, alert)


def test_an_unreadable_queue_is_neither_an_incident_nor_a_recovery(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(deferred=12)
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
    fake_mailcow.set_queue(deferred=12)
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
    fake_mailcow.set_queue(deferred=12)
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
    fake_mailcow.set_queue(deferred=12, hold=3)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted
    assert slack.click("watch_queue_deferred", "queue", user=VIEWER, message_ts=alert).status == 200
    text = fake_slack.wait_for(lambda s: len(s.thread(alert)) >= 2 and thread_text(s, alert))
    assert "Mail queue: *12* messages — deferred 12" in text and "matching `queue=deferred`" in text
    assert parents(fake_slack)[-1] == alert  # nothing new in the channel


def test_flush_from_the_alert_asks_for_an_approval_and_names_it_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    fake_mailcow.set_queue(deferred=12)
    say(slack, fake_slack, "queue watch deferred=10")
    [alert] = tick(services, clock, fake_slack).posted

    assert slack.click("watch_queue_flush", "queue", user=VIEWER, message_ts=alert).status == 200
    assert wait_told(fake_slack, "This needs an operator")

    assert slack.click("watch_queue_flush", "queue", user=OPERATOR, message_ts=alert).status == 200
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
