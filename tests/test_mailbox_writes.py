"""`mailbox create|edit|delete` typed as commands: what mailcow receives, what a person reads.

Creating and editing run at once for an operator; deleting waits for an approver and the request
shows what the mailbox holds and which aliases deliver to it. Wrong input is answered to the person
alone, before anything is sent. The create form, the edit form and the reset are in test_modals.py
and test_password_reset.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.mailcow import MailcowClient
from commands.mailbox.writes import mailbox_state
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask
from tests.fakes.mailcow import MIB, FakeMailcow
from tests.fakes.reading import answer, ephemeral, private_answer, readable, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, APPROVER, VIEWER, SlackDriver

services, bolt_app = manual_app.services, manual_app.bolt_app


def test_create_sends_the_quota_in_mib_and_shows_the_generated_password_only_to_the_requester(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    assert slack.command('mailbox create Jane@Example.org name="Jane Doe" quota=2048').text == ""
    done = answer(fake_slack, "Read back from mailcow")
    assert (
        done.headline == ":white_check_mark: Done: Create mailbox jane@example.org (Jane Doe) with 2,048 MiB"
    )
    assert 'Quota: (none) → "2,048 MiB"' in done.text
    [sent] = fake_mailcow.calls("add/mailbox")
    password = sent.json_body["password"]
    assert (sent.json_body["local_part"], sent.json_body["quota"], sent.json_body["name"]) == (
        "jane",
        2048,
        "Jane Doe",
    )
    [private] = fake_slack.wait_for(lambda s: s.calls_to("response_url"))
    assert private.args["response_type"] == "ephemeral"
    assert f"The password of `jane@example.org` is `{password}`" in private.args["text"]
    assert fake_mailcow.mailboxes.rows["jane@example.org"]["quota"] == 2048 * MIB


def test_create_without_a_quota_sends_the_domains_default_never_nothing(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("mailbox create kim@example.net")
    answer(fake_slack, "Read back from mailcow")
    [sent] = fake_mailcow.calls("add/mailbox")
    assert sent.json_body["quota"] == 3072  # example.net's default; omitted would be unlimited


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("mailbox create jane@nowhere.example", "There is no domain nowhere.example on this mailcow."),
        ("mailbox create alice@example.org", "alice@example.org is already a mailbox."),
        ("mailbox create info@example.org", "info@example.org is already an alias (to alice@example.org)."),
        (
            "mailbox create jane@example.net quota=6000",
            "6,000 MiB is above example.net's maximum of 5,120 MiB",
        ),
        ("mailbox create jane@example.org quota=lots", "quota (MiB) must be a whole number, not `lots`."),
        ("mailbox create not-an-address", "`not-an-address` is not a valid e-mail address"),
        ("mailbox create jane@example.org password=Secret-123", "never type a password into a command"),
        ("mailbox create jane@example.org size=10", "unknown option `size=`"),
    ],
)
def test_wrong_creates_are_explained_to_the_requester_and_nothing_is_sent(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)


def test_a_viewer_may_not_create(slack: SlackDriver, fake_mailcow: FakeMailcow) -> None:
    assert "needs an operator" in slack.command("mailbox create jane@example.org", user=VIEWER).json()["text"]
    assert fake_mailcow.writes() == []


@pytest.mark.parametrize("settings_overrides", [{"CHATOPS_EXTRA_APPROVALS": "mailbox.create"}], indirect=True)
def test_a_create_that_must_be_approved_hands_the_password_over_after_the_approval(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask("mailbox create jane@example.org")
    assert fake_mailcow.writes() == []
    slack.click("approval_approve", request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    [sent] = fake_mailcow.calls("add/mailbox")
    [dm] = fake_slack.wait_for(lambda s: [c for c in s.posts() if c.args["channel"].startswith("D")])
    assert f"New password for `jane@example.org`: `{sent.json_body['password']}`" in readable(dm.args)


def test_edit_changes_quota_state_and_protocols_and_reads_them_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("mailbox edit bob@example.org quota=2048 active=login-disabled protocols=imap,smtp")
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline == (
        ":white_check_mark: Done: Change mailbox bob@example.org: quota 1,024 → 2,048 MiB; "
        "active → login disabled, mail accepted; protocols → imap, smtp"
    )
    [sent] = fake_mailcow.calls("edit/mailbox")
    assert sent.json_body == {
        "items": ["bob@example.org"],
        "attr": {"quota": 2048, "active": 2, "protocol_access": ["imap", "smtp"]},
    }
    assert 'Protocols: "IMAP, POP3, SMTP, Sieve, ActiveSync,' in done.text
    assert '→ "IMAP, SMTP, SOGo webmail"' in done.text
    assert 'State: "active" → "login disabled, mail accepted"' in done.text


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("mailbox edit nobody@example.org quota=10", "There is no mailbox nobody@example.org."),
        (
            "mailbox edit bob@example.org active=maybe",
            "active must be yes, no or login-disabled, not `maybe`.",
        ),
        ("mailbox edit bob@example.org protocols=ftp", "`ftp` is not a protocol"),
        (
            "mailbox edit bob@example.org quota=99999",
            "99,999 MiB is above example.org's maximum of 10,240 MiB",
        ),
        (
            "mailbox edit bob@example.org quota=1024",
            "Nothing to change: bob@example.org already looks like that.",
        ),
        ("mailbox edit erin@example.net force_pw_update=yes", "erin@example.net signs in through LDAP"),
        ("mailbox edit bob@example.org password=x", "never type a password into a command"),
    ],
)
def test_wrong_edits_are_explained_and_nothing_is_sent(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)


def test_delete_asks_for_approval_with_what_the_mailbox_holds_and_who_delivers_to_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    request = ask('mailbox delete alice@example.org reason="left the company"')
    message = fake_slack.messages[request.ts]
    assert message["text"].startswith(
        ":lock: *Approval needed:* Delete mailbox alice@example.org and all its mail "
        "(1.2 GiB in 5,230 messages, last login 1 h ago)"
    )
    text = readable(message)
    assert "*Aliases delivering here*\ninfo@example.org, sales@example.org" in text
    assert "*Quota*\n3,072 MiB" in text and "*Last login*\n" in text
    assert fake_mailcow.writes() == []

    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    assert "alice@example.org" not in fake_mailcow.mailboxes.rows
    [sent] = fake_mailcow.calls("delete/mailbox")
    assert sent.json_body == ["alice@example.org"]
    assert 'Mailbox: "exists" → "does not exist"' in text


def test_delete_of_a_mailbox_that_is_not_there_asks_nobody(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("mailbox delete nobody@example.org")
    assert "There is no mailbox nobody@example.org." in ephemeral(fake_slack)
    assert [m for m in fake_slack.messages.values() if m["channel"] == ALLOWED] == []


def test_the_mailbox_state_is_what_an_approver_decides_on_and_nothing_that_moves_with_mail(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    state: dict[str, Any] = mailbox_state(mailcow_client, "bob@example.org")
    assert state == {
        "Mailbox": "exists",
        "Name": "Bob Builder",
        "State": "active",
        "Quota": "1,024 MiB",
        "Authentication": "mailcow",
        "Protocols": "IMAP, POP3, SMTP, Sieve, ActiveSync, CalDAV/CardDAV, SOGo webmail",
        "Must change password": "no",
        "Password changed": "2026-01-05 09:12:44",
        "Last login": state["Last login"],
        "Aliases delivering here": "sales@example.org",
    }
    fake_mailcow._rewrite_mailbox("bob@example.org", quota_used=950 * MIB, messages=12)
    assert mailbox_state(mailcow_client, "bob@example.org") == state
    assert mailbox_state(mailcow_client, "nobody@example.org") == {"Mailbox": "does not exist"}
