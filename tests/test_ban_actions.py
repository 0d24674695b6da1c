"""`unban IP`, `ban add NET`, `ban allow NET`, and the Unban/Allow/Block buttons on the `ban IP` answer.

Driven as Slack drives them. The tests check the exact body mailcow receives (SERVER-FACTS §4.5: the
network exactly as `active_bans` lists it, never an empty `items`), what the approver is shown,
the read-back, and that each answer says netfilter applies it asynchronously. The demo data bans
203.0.113.7 (its /32) for 25 minutes.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.mailcow import MailcowClient, calls
from bot.services import Services
from commands.ban import ban_state
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import buttons, parents, shown, thread_text, wait_shown, wait_told
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, OPERATOR, VIEWER, SlackDriver

services, bolt_app = manual_app.services, manual_app.bolt_app


def fail2ban_bodies(fake_mailcow: FakeMailcow) -> list[Any]:
    return [r.json_body for r in fake_mailcow.calls("edit/fail2ban")]


@pytest.fixture(autouse=True)
def never_rewrites_the_config(fake_mailcow: FakeMailcow) -> Any:
    """An empty `items` would rewrite mailcow's whole fail2ban configuration (§0.8): no test may cause it."""
    yield
    assert fake_mailcow.f2b_rewrites == 0
    assert all(body["items"] for body in fail2ban_bodies(fake_mailcow))


def test_unban_needs_an_approval_and_sends_the_network_as_listed(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask('unban 203.0.113.7 reason="user fixed the password"')
    text = shown(fake_slack, request.ts)
    assert ":lock: *Approval needed:* Unban 203.0.113.7/32 (2" in text
    assert "min left when asked); netfilter lifts it within about 10 s" in text
    assert '{"items": ["203.0.113.7/32"], "attr": {"action": "unban"}}' in text
    assert "*203.0.113.7/32*\nactive ban 203.0.113.7/32" in text
    assert "*Target*\n`ban:203.0.113.7/32`" in text
    assert fake_mailcow.writes() == []

    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    assert 'read back: 203.0.113.7/32: "active ban 203.0.113.7/32" → "not banned, not listed"' in text
    assert fail2ban_bodies(fake_mailcow) == [{"items": ["203.0.113.7/32"], "attr": {"action": "unban"}}]
    details = fake_slack.wait_for(lambda s: thread_text(s, request.ts))
    assert "Done: Unban 203.0.113.7/32" in details and "netfilter lifts it within about 10 s" in details


def test_unban_of_an_address_in_a_wider_ban_lifts_that_network(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    fake_mailcow.ban("198.51.100.23", 630, network="198.51.100.0/24")
    request = ask("unban 198.51.100.99")
    assert '{"items": ["198.51.100.0/24"], "attr": {"action": "unban"}}' in shown(fake_slack, request.ts)


def test_a_ban_that_ends_before_the_approval_is_not_run(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("unban 203.0.113.7")
    del fake_mailcow.active_bans["203.0.113.7/32"]  # expired meanwhile
    slack.click("approval_approve", request.id, user=APPROVER)
    assert wait_told(fake_slack, "Not approved: refused: the target changed since the request")
    assert "not banned, not listed" in wait_shown(fake_slack, request.ts, "Not run, the target changed")
    assert fake_mailcow.writes() == []


@pytest.mark.parametrize(
    "case",
    [
        (None, "unban 192.0.2.200", "`192.0.2.200` is not banned now (fail2ban state just read)"),
        ("queued", "unban 198.51.100.7", "The ban on `198.51.100.7/32` is already queued for unban"),
        (
            "denied",
            "unban 198.18.3.4",
            "has no active ban, but a permanent one from the denylist (`198.18.0.0/15`)",
        ),
        (None, "unban 203.0.113", "`203.0.113` is not an IP address or network"),
        (None, "ban add 0.0.0.0/0", "0.0.0.0/0 would block everyone; mailcow refuses it."),
        ("denied", "ban add 198.18.0.0/15", "`198.18.0.0/15` is on the denylist already"),
        ("allowed", "ban allow 192.0.2.0/24", "`192.0.2.0/24` is on the allowlist already"),
    ],
)
def test_what_cannot_or_need_not_be_done_is_explained_and_nothing_is_sent(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    mailcow_client: MailcowClient,
    case: tuple[str | None, str, str],
) -> None:
    prepare, typed, told = case
    if prepare == "queued":
        fake_mailcow.ban("198.51.100.7", 600, queued_for_unban=1)
    elif prepare == "denied":
        mailcow_client.write(calls.edit_fail2ban("blacklist", "198.18.0.0/15"))
    elif prepare == "allowed":
        mailcow_client.write(calls.edit_fail2ban("whitelist", "192.0.2.0/24"))
    fake_mailcow.reset_log()
    slack.command(typed)
    wait_told(fake_slack, told)
    assert fake_mailcow.writes() == []
    assert parents(fake_slack) == []


def test_ban_add_blocks_for_good_after_an_approval(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask('ban add 198.51.100.7/24 reason="password spraying"')
    text = shown(fake_slack, request.ts)
    assert (
        "Block 198.51.100.0/24 permanently (denylist; 256 addresses); "
        "netfilter applies it within about a minute"
    ) in text
    assert "*198.51.100.0/24*\nnot banned, not listed" in text
    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    assert fail2ban_bodies(fake_mailcow) == [{"items": ["198.51.100.0/24"], "attr": {"action": "blacklist"}}]
    assert (
        'read back: 198.51.100.0/24: "not banned, not listed" → '
        '"permanent ban 198.51.100.0/24; denylist 198.51.100.0/24"'
    ) in text


def test_ban_allow_runs_at_once_and_lifts_the_bans_inside(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services
) -> None:
    fake_mailcow.ban("203.0.113.9", 900)
    assert slack.command('ban allow 203.0.113.0/24 reason="office NAT"').text == ""
    [ts] = fake_slack.wait_for(parents)
    assert fake_slack.messages[ts]["text"] == (
        ":white_check_mark: Done: Allow 203.0.113.0/24 (allowlist: fail2ban never bans it) and lift the "
        "active bans on 203.0.113.7/32, 203.0.113.9/32; netfilter applies it within about a minute"
    )
    assert fail2ban_bodies(fake_mailcow) == [
        {"items": ["203.0.113.0/24"], "attr": {"action": "whitelist"}},
        {"items": ["203.0.113.7/32", "203.0.113.9/32"], "attr": {"action": "unban"}},
    ]
    details = fake_slack.wait_for(lambda s: thread_text(s, ts))
    assert (
        '*Read back from mailcow*: 203.0.113.0/24: "active ban 203.0.113.7/32; active ban 203.0.113.9/32" '
        '→ "allowlist 203.0.113.0/24"'
    ) in details
    assert fake_mailcow.whitelist == ["203.0.113.0/24"] and fake_mailcow.active_bans == {}
    assert services.store is not None
    [entry] = [e for e in services.store.audit_entries(10) if e.event == "execution"]
    assert (entry.user_id, entry.area, entry.verb, entry.target) == (
        OPERATOR,
        "ban",
        "allow",
        "ban:203.0.113.0/24",
    )


def test_allowing_the_banned_address_itself_needs_one_call(
    slack: SlackDriver, fake_mailcow: FakeMailcow
) -> None:
    slack.command("ban allow 203.0.113.7")
    slack.fake.wait_for(lambda _: fake_mailcow.calls("edit/fail2ban"))
    assert fail2ban_bodies(fake_mailcow) == [{"items": ["203.0.113.7/32"], "attr": {"action": "whitelist"}}]


def test_a_viewer_may_not_change_bans(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    for typed in ("unban 203.0.113.7", "ban add 198.51.100.0/24", "ban allow 192.0.2.1"):
        assert "needs an operator" in slack.command(typed, user=VIEWER).json()["text"]
    assert fake_mailcow.writes() == []


def test_the_ban_state_reader_lists_bans_and_entries_that_overlap(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    fake_mailcow.ban("198.51.100.23", 600, network="198.51.100.0/24", queued_for_unban=1)
    mailcow_client.write(calls.edit_fail2ban("whitelist", "198.51.100.64/26"))
    assert ban_state(mailcow_client, "198.51.100.70/32,203.0.113.7/32,192.0.2.0/24") == {
        "198.51.100.70/32": "active ban 198.51.100.0/24 (unban queued); allowlist 198.51.100.64/26",
        "203.0.113.7/32": "active ban 203.0.113.7/32",
        "192.0.2.0/24": "not banned, not listed",
    }


# --- the buttons on `ban IP` --------------------------------------------------------------------------


def investigate(slack: SlackDriver, fake_slack: FakeSlack, address: str) -> tuple[str, str, dict[str, Any]]:
    """`ban ADDRESS` as a viewer: (parent ts, ts of the thread message with the buttons, its buttons)."""
    seen = len(parents(fake_slack))
    slack.command(f"ban {address}", user=VIEWER)
    parent = fake_slack.wait_for(lambda s: len(p := parents(s)) > seen and p[seen])
    reply = fake_slack.wait_for(lambda s: s.thread(parent))[0]
    ts = next(t for t, m in fake_slack.messages.items() if m["thread_ts"] == parent)
    return parent, ts, buttons(reply.args)


def test_a_banned_address_offers_unban_allow_and_block(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    _, _, found = investigate(slack, fake_slack, "203.0.113.7")
    assert {k: (v["value"], v["text"]["text"]) for k, v in found.items()} == {
        "ban_unban": ("203.0.113.7", "Unban 203.0.113.7"),
        "ban_allow": ("203.0.113.7/32", "Allow 203.0.113.7/32"),
        "ban_block": ("203.0.113.7/32", "Block 203.0.113.7/32 permanently"),
    }
    assert found["ban_block"]["style"] == "danger"


def test_an_allowlisted_address_offers_only_block(
    slack: SlackDriver, fake_slack: FakeSlack, mailcow_client: MailcowClient
) -> None:
    mailcow_client.write(calls.edit_fail2ban("whitelist", "192.0.2.0/24"))
    _, _, found = investigate(slack, fake_slack, "192.0.2.9")
    assert list(found) == ["ban_block"] and found["ban_block"]["value"] == "192.0.2.9/32"


def test_unban_button_asks_for_approval_and_says_so_in_the_investigations_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    parent, ts, found = investigate(slack, fake_slack, "203.0.113.7")
    assert (
        slack.click(
            "ban_unban", found["ban_unban"]["value"], user=VIEWER, message_ts=ts, thread_ts=parent
        ).status
        == 200
    )
    assert wait_told(fake_slack, "This needs an operator")

    assert (
        slack.click(
            "ban_unban", found["ban_unban"]["value"], user=OPERATOR, message_ts=ts, thread_ts=parent
        ).status
        == 200
    )
    request_ts = fake_slack.wait_for(lambda s: (p := parents(s)) and p[-1] != parent and p[-1])
    request_id = buttons(fake_slack.messages[request_ts])["approval_approve"]["value"]
    assert "Unban 203.0.113.7/32" in shown(fake_slack, request_ts)
    note = fake_slack.wait_for(lambda s: request_id in thread_text(s, parent) and thread_text(s, parent))
    assert f"<@{OPERATOR}> asked for approval: Unban 203.0.113.7/32" in note
    assert fake_mailcow.writes() == []

    slack.click("approval_approve", request_id, user=APPROVER)
    wait_shown(fake_slack, request_ts, "*Done:*")
    assert fail2ban_bodies(fake_mailcow) == [{"items": ["203.0.113.7/32"], "attr": {"action": "unban"}}]


def test_allow_button_runs_now_and_answers_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    parent, ts, found = investigate(slack, fake_slack, "203.0.113.7")
    assert (
        slack.click(
            "ban_allow", found["ban_allow"]["value"], user=OPERATOR, message_ts=ts, thread_ts=parent
        ).status
        == 200
    )
    done = fake_slack.wait_for(lambda s: "Done: Allow 203.0.113.7/32" in (t := thread_text(s, parent)) and t)
    assert "netfilter applies it within about a minute" in done
    assert fail2ban_bodies(fake_mailcow) == [{"items": ["203.0.113.7/32"], "attr": {"action": "whitelist"}}]
    assert len(parents(fake_slack)) == 1  # the answer went into the investigation's thread


def test_block_button_asks_for_an_approval(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    parent, ts, found = investigate(slack, fake_slack, "203.0.113.7")
    assert (
        slack.click(
            "ban_block", found["ban_block"]["value"], user=OPERATOR, message_ts=ts, thread_ts=parent
        ).status
        == 200
    )
    request_ts = fake_slack.wait_for(lambda s: (p := parents(s)) and p[-1] != parent and p[-1])
    assert "Block 203.0.113.7/32 permanently (denylist)" in shown(fake_slack, request_ts)
    assert fake_slack.violations == []
