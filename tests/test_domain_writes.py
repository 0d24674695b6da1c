"""`domain add|edit|delete` and the create-domain form.

Quotas go to mailcow in MiB and are checked against each other first (default ≤ per-mailbox maximum ≤
domain quota). mailcow refuses to delete a domain that still has mailboxes, so the bot says so, with
the count, before anyone is asked to approve; an empty domain's delete request shows its counts.
"""

from __future__ import annotations

import pytest

from bot.mailcow import MailcowClient
from commands.domain import domain_state
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask
from tests.fakes.forms import errors_of, fill, inputs, opened
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, ephemeral, parents, private_answer, readable, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, SlackDriver

services, bolt_app = manual_app.services, manual_app.bolt_app


def test_add_sends_what_was_given_in_mib_and_reads_the_domain_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command('domain add Example.com description="Example Inc" mailboxes=50 quota=51200 maxquota=20480')
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline == (
        ":white_check_mark: Done: Add domain example.com (description “Example Inc”, mailboxes 50, "
        "domain quota 51,200 MiB, maximum mailbox quota 20,480 MiB)"
    )
    [sent] = fake_mailcow.calls("add/domain")
    assert sent.json_body == {
        "domain": "example.com",
        "active": 1,
        "description": "Example Inc",
        "mailboxes": 50,
        "quota": 51200,
        "maxquota": 20480,
    }
    assert 'Mailboxes: (none) → "0 of 50"' in done.text
    assert 'Domain quota: (none) → "51,200 MiB, 0 MiB of it given to mailboxes"' in done.text


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("domain add example.org", "example.org is already a domain on this mailcow."),
        ("domain add not_a_domain", "`not_a_domain` is not a valid domain"),
        (
            "domain add new.example defquota=4096 maxquota=2048",
            "The default mailbox quota (4,096 MiB) cannot be above",
        ),
        (
            "domain add new.example maxquota=9000 quota=5000",
            "The maximum mailbox quota (9,000 MiB) cannot be above",
        ),
        ("domain add new.example mailboxes=-1", "mailboxes (the most it may have) must be at least 0"),
        ("domain add new.example active=maybe", "active must be yes or no"),
        ("domain add new.example colour=blue", "unknown option `colour=`"),
    ],
)
def test_wrong_adds_are_explained_and_nothing_is_sent(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)


def test_edit_sends_only_the_named_settings(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("domain edit example.net mailboxes=20 maxquota=8192 active=no")
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline == (
        ":white_check_mark: Done: Change domain example.net: mailboxes 20, maximum mailbox quota 8,192 MiB, "
        "inactive"
    )
    [sent] = fake_mailcow.calls("edit/domain")
    assert sent.json_body == {
        "items": ["example.net"],
        "attr": {"mailboxes": 20, "maxquota": 8192, "active": 0},
    }
    assert 'Mailboxes: "2 of 10" → "2 of 20"' in done.text
    assert 'State: "active" → "inactive"' in done.text


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("domain edit example.org", "name at least one setting to change"),
        ("domain edit nowhere.example mailboxes=5", "there is no domain `nowhere.example` on this mailcow"),
        (
            "domain edit example.org maxquota=1024",
            "The default mailbox quota (3,072 MiB) cannot be above the maximum",
        ),
        ("domain edit example.org aliases=0", "aliases (the most it may have) must be at least 1"),
    ],
)
def test_wrong_edits_are_explained(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)


def test_deleting_a_domain_with_mailboxes_is_refused_with_the_count_before_any_request(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("domain delete example.org")
    told = ephemeral(fake_slack)
    assert "`example.org` still has 3 mailboxes, and mailcow refuses to delete a domain that has any." in told
    assert "/mailcow mailbox list example.org" in told
    assert parents(fake_slack) == [] and fake_mailcow.writes() == []


def test_deleting_an_empty_domain_is_approved_on_its_counts_and_read_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    fake_mailcow.add_domain("old.example")
    fake_mailcow.add_alias("info@old.example", "alice@example.org")
    request = ask('domain delete old.example reason="moved to example.org"')
    text = readable(fake_slack.messages[request.ts])
    assert "Delete domain old.example with its 1 alias, alias domains, BCC maps and spam policies" in text
    assert "*Mailboxes*\n0 of 10" in text and "*Aliases*\n1 of 400" in text
    assert fake_mailcow.writes() == []
    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    [sent] = fake_mailcow.calls("delete/domain")
    assert sent.json_body == ["old.example"]
    assert "old.example" not in fake_mailcow.domains


def test_the_domain_state_leaves_out_what_moves_with_every_message(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    state = domain_state(mailcow_client, "example.net")
    fake_mailcow.domains["example.net"]["bytes"] += 10**6
    assert domain_state(mailcow_client, "example.net") == state
    assert state["Mailboxes"] == "2 of 10"
    assert domain_state(mailcow_client, "nowhere.example") == {"Domain": "does not exist"}


def test_the_create_domain_form(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> None:
    view = opened(slack, fake_slack, "domain add", "domain_create")
    fields = inputs(view)
    assert fields["quota_mb"]["element"]["initial_value"] == "10240"
    assert fields["defquota_mb"]["element"]["initial_value"] == "3072"
    errors = errors_of(slack.submit(fill(view, domain_name="example.org", defquota_mb=20000)))
    assert errors == {
        "domain_name": "example.org is already a domain on this mailcow.",
        "defquota_mb": "The default mailbox quota (20,000 MiB) cannot be above the maximum mailbox quota "
        "(10,240 MiB).",
    }
    assert slack.submit(fill(view, domain_name="shop.example", mailboxes=5)).text == ""
    answer(fake_slack, "Read back from mailcow")
    [sent] = fake_mailcow.calls("add/domain")
    assert sent.json_body == {
        "domain": "shop.example",
        "active": 1,
        "mailboxes": 5,
        "aliases": 400,
        "defquota": 3072,
        "maxquota": 10240,
        "quota": 10240,
    }
