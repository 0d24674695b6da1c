"""`alias add|edit|delete` and the create-alias form: the body mailcow gets, and mailcow's quirks handled.

mailcow creates an alias inactive unless `active: 1` is sent, and resets the discard/spam/ham flags
on every edit (SERVER-FACTS §0.9, §4.3); the stand-in copies both, so these tests fail if the bot
forgets either.
"""

from __future__ import annotations

import pytest

from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask
from tests.fakes.forms import errors_of, fill, opened
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, ephemeral, private_answer, readable, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, SlackDriver

services, bolt_app = manual_app.services, manual_app.bolt_app


def alias_row(fake_mailcow: FakeMailcow, address: str) -> dict[str, object]:
    return next(row for row in fake_mailcow.aliases.rows.values() if row["address"] == address)


def test_add_sends_active_and_the_destinations_and_reads_the_alias_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("alias add team@example.org goto=alice@example.org,Bob@Example.org")
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline == (
        ":white_check_mark: Done: Add alias team@example.org → alice@example.org, bob@example.org"
    )
    [sent] = fake_mailcow.calls("add/alias")
    assert sent.json_body == {
        "address": "team@example.org",
        "goto": "alice@example.org,bob@example.org",
        "active": 1,
        "sogo_visible": 1,
    }
    assert alias_row(fake_mailcow, "team@example.org")["active"] == 1
    assert 'Delivers to: (none) → "alice@example.org, bob@example.org"' in done.text


@pytest.mark.parametrize(
    ("typed", "body"),
    [
        (
            "alias add @example.org goto=alice@example.org",
            {"address": "@example.org", "goto": "alice@example.org"},
        ),
        ("alias add junk@example.org goto=discard", {"address": "junk@example.org", "goto_null": 1}),
        ("alias add learn@example.org goto=spam active=no", {"address": "learn@example.org", "goto_spam": 1}),
    ],
)
def test_catch_alls_special_destinations_and_inactive_aliases(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, body: dict[str, object]
) -> None:
    slack.command(typed)
    answer(fake_slack, "Read back from mailcow")
    [sent] = fake_mailcow.calls("add/alias")
    active = 0 if "active=no" in typed else 1
    assert sent.json_body == {**body, "active": active, "sogo_visible": 1}


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        (
            "alias add x@nowhere.example goto=alice@example.org",
            "There is no domain nowhere.example on this mailcow.",
        ),
        ("alias add info@example.org goto=bob@example.org", "info@example.org is already an alias."),
        ("alias add bob@example.org goto=alice@example.org", "bob@example.org is already a mailbox."),
        ("alias add loop@example.org goto=loop@example.org", "loop@example.org cannot deliver to itself"),
        ("alias add x@example.org", "say where the mail goes"),
        ("alias add x@example.org goto=not-an-address", "`not-an-address` is not a valid e-mail destination"),
        ("alias add x@example.org goto=alice@example.org active=perhaps", "active must be yes or no"),
    ],
)
def test_wrong_adds_are_explained_and_nothing_is_sent(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)


def test_an_alias_domain_at_its_limit_is_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_domain("small.example", aliases=1)
    fake_mailcow.add_alias("one@small.example", "alice@example.org")
    slack.command("alias add two@small.example goto=alice@example.org")
    assert "small.example is full: 1 alias, its limit." in ephemeral(fake_slack)


def test_edit_by_address_or_id_changes_only_what_is_named(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    alias_id = alias_row(fake_mailcow, "info@example.org")["id"]
    slack.command(f"alias edit {alias_id} goto=bob@example.org comment=front-desk")
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline == (
        ":white_check_mark: Done: Change alias info@example.org: to bob@example.org, comment “front-desk”"
    )
    [sent] = fake_mailcow.calls("edit/alias")
    assert sent.json_body == {
        "items": [str(alias_id)],
        "attr": {"goto": "bob@example.org", "public_comment": "front-desk"},
    }
    assert 'Delivers to: "alice@example.org" → "bob@example.org"' in done.text


def test_editing_a_discarding_alias_sends_its_flag_again_so_the_edit_is_not_dropped(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_alias("junk@example.org", "null@localhost")
    slack.command("alias edit junk@example.org active=no")
    done = answer(fake_slack, "Read back from mailcow")
    [sent] = fake_mailcow.calls("edit/alias")
    assert sent.json_body["attr"] == {"goto_null": 1, "active": 0}
    assert alias_row(fake_mailcow, "junk@example.org")["active"] == 0
    assert 'State: "active" → "inactive"' in done.text


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("alias edit nobody@example.org active=no", "there is no alias `nobody@example.org`"),
        ("alias edit info@example.org", "name something to change"),
        ("alias edit info@example.org goto=info@example.org", "cannot deliver to itself"),
    ],
)
def test_wrong_edits_are_explained(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)


def test_delete_waits_for_an_approver_and_shows_where_the_alias_delivers(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    alias_id = alias_row(fake_mailcow, "sales@example.org")["id"]
    request = ask("alias delete sales@example.org")
    text = readable(fake_slack.messages[request.ts])
    assert "Delete alias sales@example.org (to alice@example.org, bob@example.org)" in text
    assert "*Delivers to*\nalice@example.org, bob@example.org" in text
    assert fake_mailcow.writes() == []
    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "*Done:*")
    [sent] = fake_mailcow.calls("delete/alias")
    assert sent.json_body == [str(alias_id)]
    assert 'Alias: "exists" → "does not exist"' in text
    assert all(row["address"] != "sales@example.org" for row in fake_mailcow.aliases.rows.values())


def test_the_create_alias_form(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> None:
    view = opened(slack, fake_slack, "alias add", "alias_create")
    errors = errors_of(slack.submit(fill(view, address="team@", goto="")))
    assert set(errors) == {"address", "goto"}
    assert errors["goto"] == "Name where the mail goes: addresses, or discard, spam or ham."
    assert fake_mailcow.writes() == []
    assert (
        slack.submit(fill(view, address="team@example.org", goto="alice@example.org\nbob@example.org")).text
        == ""
    )
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline.endswith("Add alias team@example.org → alice@example.org, bob@example.org")
    [sent] = fake_mailcow.calls("add/alias")
    assert sent.json_body["active"] == 1
