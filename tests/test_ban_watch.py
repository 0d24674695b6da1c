"""`/mailcow ban watch`: an alert when active bans spike, updated in place, recovered in its thread.

The same mechanics as the queue watch (tests/test_queue_watch.py; the helpers are in
tests/fakes/manual_app.py); these tests check what is particular to bans: the count, the busiest
networks, the Show bans button, and netfilter publishing nothing, which is a failed check rather than
"no bans".
"""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.fakes import manual_app
from tests.fakes.db_plugin import FakeClock
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.manual_app import Round, tick
from tests.fakes.reading import buttons, parents, readable, say, shown, thread_text, wait_told
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import OPERATOR, VIEWER, SlackDriver

services, bolt_app, clock = manual_app.services, manual_app.bolt_app, manual_app.watch_clock


def ban_many(fake_mailcow: FakeMailcow, count: int, prefix: str = "198.51.100") -> None:
    for host in range(1, count + 1):
        fake_mailcow.ban(f"{prefix}.{host}", 1800)


def test_a_ban_spike_alerts_once_with_the_busiest_networks_and_recovers(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    said = say(slack, fake_slack, "ban watch active=5")
    assert said == ":white_check_mark: fail2ban watch on in <#C0OPS>: alerts when active bans ≥ 5"
    assert tick(services, clock, fake_slack).posted == []  # the demo's one ban

    ban_many(fake_mailcow, 6)
    [alert] = tick(services, clock, fake_slack).posted
    assert fake_slack.messages[alert]["text"] == (
        ":rotating_light: fail2ban over threshold: active bans 7 (threshold 5)"
    )
    text = shown(fake_slack, alert)
    assert "*Active bans*\n7" in text and "*Permanent*\n0" in text
    assert "*Busiest networks* (IPv4 /24, IPv6 /64)\n`198.51.100.0/24` × 6\n`203.0.113.0/24` × 1" in text
    assert set(buttons(fake_slack.messages[alert])) == {"watch_bans_list", "watch_snooze"}

    ban_many(fake_mailcow, 3, prefix="192.0.2")
    assert tick(services, clock, fake_slack) == Round([], [alert], [])
    assert "active bans *10* (threshold 5)" in shown(fake_slack, alert)
    assert "peak active bans 10" in shown(fake_slack, alert)

    fake_mailcow.active_bans.clear()
    recovered = tick(services, clock, fake_slack)
    assert recovered.updated == [alert]
    assert shown(fake_slack, alert).startswith(":white_check_mark: *fail2ban recovered* <!date^")
    [line] = recovered.threaded
    assert "*Recovered* <!date^" in readable(line.args) and "active bans 0" in readable(line.args)
    assert "Peak: active bans 10." in readable(line.args)


def test_show_bans_lists_them_in_the_alerts_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    say(slack, fake_slack, "ban watch active=3")
    ban_many(fake_mailcow, 4)
    [alert] = tick(services, clock, fake_slack).posted
    assert slack.click("watch_bans_list", "bans", user=VIEWER, message_ts=alert).status == 200
    text = fake_slack.wait_for(lambda s: "fail2ban: *5* active bans" in (t := thread_text(s, alert)) and t)
    assert "`198.51.100.0/24` × 4" in text
    assert parents(fake_slack)[-1] == alert


def test_netfilter_publishing_nothing_is_a_failed_check_not_a_recovery(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    say(slack, fake_slack, "ban watch active=3")
    ban_many(fake_mailcow, 4)
    [alert] = tick(services, clock, fake_slack).posted
    options, fake_mailcow.f2b_options = fake_mailcow.f2b_options, None
    failed = tick(services, clock, fake_slack)
    assert (failed.updated, failed.threaded) == ([alert], [])
    assert "failed: netfilter has published no fail2ban state (is netfilter-mailcow running?)" in shown(
        fake_slack, alert
    )
    assert "active bans *5*" in shown(fake_slack, alert)
    fake_mailcow.f2b_options = options
    tick(services, clock, fake_slack)
    assert "The last check" not in shown(fake_slack, alert)


@pytest.mark.parametrize("typed", ["ban watch active=10", "ban watch off"])
def test_only_operators_change_the_ban_watch(slack: SlackDriver, fake_slack: FakeSlack, typed: str) -> None:
    slack.command(typed, user=VIEWER)
    wait_told(fake_slack, "fail2ban watch on, off or changing it needs an operator")
    assert say(slack, fake_slack, "ban watch status", user=VIEWER).startswith("fail2ban watch: *off*")


def test_both_watches_run_side_by_side(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, clock: FakeClock
) -> None:
    say(slack, fake_slack, "ban watch active=3")
    say(slack, fake_slack, "queue watch total=3 deferred=off age=off")  # the demo queue holds 6
    ban_many(fake_mailcow, 4)
    posted = tick(services, clock, fake_slack).posted
    assert sorted(str(fake_slack.messages[ts]["text"]).split(":")[2].strip() for ts in posted) == [
        "Mail queue over threshold",
        "fail2ban over threshold",
    ]
    status = say(slack, fake_slack, "ban watch status", user=OPERATOR)
    assert "*incident open* since" in status
