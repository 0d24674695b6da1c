"""`/mailcow ban IP` and `ban list`, driven as Slack drives them, against the stateful mailcow stand-in.

The demo data bans 203.0.113.7 (its /32) for 25 minutes and has netfilter, Postfix and Dovecot lines
about it; each test adds what its case needs through the stand-in's seeders or mailcow's own write
routes, then reads what a person would read: the parent line and the thread.
"""

from __future__ import annotations

import re

import pytest

from bot.mailcow import MailcowClient, calls
from bot.services import Services
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import private_answer, readable, reply_to
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


def configure_fail2ban(fake: FakeMailcow, **attr: str) -> None:
    """`edit/fail2ban` without an action: the full-config form, the only one that takes hostnames."""
    fake.admin_write("edit/fail2ban", {"items": [], "attr": attr})


# --- ban IP -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["ban 203.0.113.7", "ban show 203.0.113.7"])
def test_banned_address_says_for_how_long_and_shows_the_evidence(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, text: str
) -> None:
    # A neighbour whose address starts with the same digits must not count as a mention.
    fake_mailcow.add_log(
        "netfilter", {"priority": "crit", "message": "Banning 203.0.113.70/32 for 30 minutes"}
    )
    answer = reply_to(slack, fake_slack, text, user=VIEWER)
    assert re.fullmatch(
        r":warning: 203\.0\.113\.7 is \*banned\* for another 2[45] min \(network `203\.0\.113\.7/32`\)",
        answer.headline,
    ), answer.headline
    assert "*Active ban*\n`203.0.113.7/32` · 2" in answer.text
    assert "*A ban would cover*\n`203.0.113.7/32`" in answer.text
    assert "matched rule id 1 (mailcow UI: Invalid password for admin by 203.0.113.7)" in answer.text
    assert "9 more attempts in the next 600 seconds until 203.0.113.7/32 is banned" in answer.text
    assert "203.0.113.70" not in answer.text
    # Dovecot's "unknown user" for it is an auth failure; Postfix's RCPT reject is only a mention.
    assert "Dovecot  auth: passwd-file(bob@example.org,203.0.113.7): unknown user" in answer.text
    assert "Postfix 0 · Dovecot 1 · SOGo 0" in answer.text
    assert "1 other mail-log line mentions it." in answer.text
    assert (
        "fail2ban bans after 10 failures within 10 min for 30 min, doubling on each repeat up to 2 h 46 min"
        in (answer.text)
    )
    assert "fail2ban state just read from mailcow." in answer.text


def test_ban_by_a_wider_network_is_found_by_containment_and_shows_a_queued_unban(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.ban("198.51.100.23", 630, network="198.51.100.0/24", queued_for_unban=1)
    answer = reply_to(slack, fake_slack, "ban 198.51.100.99", user=VIEWER)
    assert answer.headline == (
        ":warning: 198.51.100.99 is *banned* for another 10 min (network `198.51.100.0/24`) · unban queued"
    )
    # The netfilter line names the network, not this address; it is still the evidence.
    assert "Banning 198.51.100.0/24 for 10 minutes" in answer.text


def test_ipv6_ban_by_its_64_and_auth_failures_by_rip(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.ban("2001:db8:1:2::", 3 * 3600, network="2001:db8:1:2::/64")
    fake_mailcow.add_log(
        "dovecot",
        {
            "program": "dovecot",
            "message": "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
            "user=<alice@example.org>, method=PLAIN, rip=2001:db8:1:2::abcd, lip=2001:db8::25, TLS",
        },
    )
    fake_mailcow.add_log(
        "sogo",
        {
            "program": "sogod",
            "message": "SOGoRootPage Login from '2001:db8:1:2::abcd' for user 'alice@example.org' "
            "might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0",
        },
    )
    answer = reply_to(slack, fake_slack, "ban 2001:DB8:1:2:0:0:0:ABCD", user=VIEWER)
    assert re.fullmatch(
        r":warning: 2001:db8:1:2::abcd is \*banned\* for another (3 h|2 h 59 min) "
        r"\(network `2001:db8:1:2::/64`\)",
        answer.headline,
    ), answer.headline
    assert "Postfix 0 · Dovecot 1 · SOGo 1" in answer.text
    assert "rip=2001:db8:1:2::abcd" in answer.text
    assert "might not have worked" in answer.text


@pytest.mark.parametrize(
    ("entry", "address"),
    [("192.0.2.0/24", "192.0.2.55"), ("2001:db8:aa::/48", "2001:db8:aa:1::5"), ("192.0.2.9", "192.0.2.9")],
)
def test_allowlisted_address_names_the_entry(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    mailcow_client: MailcowClient,
    entry: str,
    address: str,
) -> None:
    mailcow_client.write(calls.edit_fail2ban("whitelist", entry))
    answer = reply_to(slack, fake_slack, f"ban {address}", user=VIEWER)
    assert answer.headline == f"{address} is not banned; allowlisted by `{entry}`"
    assert f"*Allowlist*\n`{entry}`" in answer.text


def test_denylisted_network_is_a_permanent_ban(
    slack: SlackDriver, fake_slack: FakeSlack, mailcow_client: MailcowClient
) -> None:
    mailcow_client.write(calls.edit_fail2ban("blacklist", "198.18.0.0/15"))
    answer = reply_to(slack, fake_slack, "ban 198.19.3.4", user=VIEWER)
    assert answer.headline == ":warning: 198.19.3.4 is *permanently banned* (network `198.18.0.0/15`)"
    assert "*Permanent ban*\n`198.18.0.0/15`" in answer.text
    assert "*Denylist*\n`198.18.0.0/15`" in answer.text
    assert "*Active ban*\nnone" in answer.text


def test_denylisted_before_netfilter_applies_it_and_hostnames_are_noted(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    """Right after a denylist edit netfilter has not banned it yet (it reads the list every minute)."""
    configure_fail2ban(fake_mailcow, blacklist="2001:db8:bad::/48", whitelist="mx.partner.example\n192.0.2.1")
    answer = reply_to(slack, fake_slack, "ban 2001:db8:bad::1", user=VIEWER)
    assert answer.headline == (
        ":warning: 2001:db8:bad::1 is not banned yet but *denylisted* by `2001:db8:bad::/48`: "
        "netfilter applies the denylist within a minute"
    )
    assert "The allowlist also holds hostnames, which netfilter resolves itself; not checked here: " in (
        answer.text
    )
    assert "`mx.partner.example`" in answer.text


def test_nothing_known_about_an_address(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    answer = reply_to(slack, fake_slack, "ban 192.0.2.200", user=VIEWER)
    assert answer.headline == "192.0.2.200 is not banned and not listed"
    assert "*Active ban*\nnone" in answer.text
    assert "*Allowlist*\nnot listed" in answer.text
    assert "No netfilter line among the newest 1,000 mentions it." in answer.text
    assert "Authentication failures" not in answer.text


def test_unbanned_address_with_failures_says_how_many(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    for n in range(6):
        fake_mailcow.add_log(
            "postfix",
            {
                "program": "postfix/smtpd",
                "message": f"warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: {n} <!channel>",
            },
        )
    # Dovecot on a dual-stack socket logs an IPv4 client in its IPv6-mapped form.
    fake_mailcow.add_log(
        "dovecot",
        {
            "program": "dovecot",
            "message": "imap-login: Disconnected (auth failed, 1 attempts): rip=::ffff:192.0.2.66",
        },
    )
    answer = reply_to(slack, fake_slack, "ban 192.0.2.66", user=VIEWER)
    assert answer.headline == "192.0.2.66 is not banned and not listed · 7 recent auth failures"
    assert "Postfix 6 · Dovecot 1 · SOGo 0" in answer.text
    assert "*Authentication failures* (newest 5 of 7)" in answer.text
    assert ": 5 &lt;!channel&gt;" in answer.text
    assert ": 0 &lt;" not in answer.text
    assert "<!channel>" not in fake_slack.all_text()


@pytest.mark.parametrize("text", ["ban 999.1.1.1", "ban show 2001:db8::zz", "ban show"])
def test_malformed_address_names_the_argument_and_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, text: str
) -> None:
    answer = private_answer(slack, fake_slack, fake_mailcow, text, user=VIEWER)
    assert "Usage: `/mailcow ban show IP`" in answer
    if text == "ban show":
        assert "the IP address is missing." in answer
    else:
        bad = text.rsplit(maxsplit=1)[-1]
        assert (
            f"`{bad}` is not an IP address; expected IPv4 like `203.0.113.7` or IPv6 like `2001:db8::7`."
            in answer
        )
    assert fake_slack.posts() == []


def test_stale_fail2ban_state_says_how_old(
    slack: SlackDriver, fake_slack: FakeSlack, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.mailcow, "age", lambda name: 600.0 if name == "fail2ban" else None)
    answer = reply_to(slack, fake_slack, "ban 203.0.113.7", user=VIEWER)
    assert "fail2ban state as of 10 min ago (cached)." in answer.text


def test_fail2ban_unreadable_names_mailcow_and_the_reason(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/fail2ban", "html500:redis", times=3)
    answer = reply_to(slack, fake_slack, "ban 203.0.113.7", user=VIEWER)
    assert answer.headline == ":x: mailcow did not answer."
    assert "get/fail2ban: its connection to Redis failed (HTTP 500)" in answer.text


def test_an_unreadable_log_is_reported_and_the_rest_still_answers(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/logs/sogo", "403")
    answer = reply_to(slack, fake_slack, "ban 203.0.113.7", user=VIEWER)
    assert "is *banned*" in answer.headline
    assert "Postfix 0 · Dovecot 1 · SOGo ?" in answer.text
    assert "Could not read the SOGo log: mailcow refused get/logs/sogo/{x}" in answer.text


# --- ban list -----------------------------------------------------------------------------------------


def test_ban_list_groups_by_network_and_lists_the_allow_and_deny_lists(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    for host in range(1, 6):
        fake_mailcow.ban(f"198.51.100.{host}", 600 + host * 60)
    fake_mailcow.ban("2001:db8:5:6::1", 900)
    fake_mailcow.ban("2001:db8:5:6::2", 900)
    mailcow_client.write(calls.edit_fail2ban("blacklist", "198.51.100.128/25"))
    mailcow_client.write(calls.edit_fail2ban("whitelist", "192.0.2.0/24"))
    answer = reply_to(slack, fake_slack, "ban list", thread_messages=2, user=VIEWER)
    assert answer.headline == ("fail2ban: *8* active bans · 1 permanent · allowlist 1 · denylist 1")
    assert "`198.51.100.0/24` × 6 (5 active, 1 permanent)" in answer.text
    assert "`2001:db8:5:6::/64` × 2" in answer.text
    assert "`203.0.113.0/24` × 1" in answer.text
    assert answer.text.index("`198.51.100.0/24` × 6") < answer.text.index("`2001:db8:5:6::/64` × 2")
    assert re.search(r":no_entry: `198\.51\.100\.5/32` · banned · 1[45] min left", answer.text)
    assert ":lock: `198.51.100.128/25` · permanently banned" in answer.text
    assert ":white_check_mark: `192.0.2.0/24` · allowlist" in answer.text
    assert ":no_entry_sign: `198.51.100.128/25` · denylist" in answer.text
    assert "1–11 of 11" in answer.text


def test_plain_ban_and_bans_show_the_list(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    assert reply_to(slack, fake_slack, "ban", thread_messages=2, user=VIEWER).headline.startswith(
        "fail2ban: *1* active ban ·"
    )
    assert reply_to(slack, fake_slack, "bans", thread_messages=2, user=VIEWER).headline.startswith(
        "fail2ban: *1* active ban ·"
    )


def test_ban_list_with_nothing_banned(
    slack: SlackDriver, fake_slack: FakeSlack, mailcow_client: MailcowClient
) -> None:
    mailcow_client.write(calls.edit_fail2ban("unban", "203.0.113.7/32"))
    answer = reply_to(slack, fake_slack, "ban list", user=VIEWER)
    assert answer.headline == "fail2ban: *no* active bans · 0 permanent · allowlist 0 · denylist 0"
    assert "Bans by network" not in answer.text


def test_a_thousand_bans_page_and_come_as_csv_within_slack_limits(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    for n in range(1000):
        fake_mailcow.ban(f"10.{n // 250}.{n % 250}.1", 1800)
    answer = reply_to(slack, fake_slack, "ban list", thread_messages=2, user=VIEWER)
    assert "fail2ban: *1,001* active bans" in answer.headline
    assert "Page 1 of 41" in answer.text
    fake_slack.wait_calls("files.completeUploadExternal")
    csv = next(iter(fake_slack.uploads.values())).decode()
    assert csv.splitlines()[0] == "kind,network,seconds_left,queued_for_unban"
    assert len(csv.splitlines()) == 1002
    listing = answer.thread[-1]
    next_value = next(e["value"] for b in listing["blocks"] if b["type"] == "actions" for e in b["elements"])
    listing_ts = [ts for ts, m in fake_slack.messages.items() if m["thread_ts"]][-1]
    slack.click("page_next", next_value, user=VIEWER, message_ts=listing_ts)
    page_two = fake_slack.wait_calls("chat.update")[0]
    assert "Page 2 of 41" in readable(page_two.args)
    assert fake_slack.violations == []
