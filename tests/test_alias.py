"""`alias list`: where mail for an address goes, with mailcow's special destinations in words."""

from __future__ import annotations

import pytest

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


def test_list_spells_out_special_destinations(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_alias("trap@example.org", "spam@localhost")
    fake_mailcow.add_alias("good@example.org", "ham@localhost")
    fake_mailcow.add_alias("void@example.org", "null@localhost", active=0)
    slack.command("alias list", user=VIEWER)
    reply = answer(fake_slack, "*Aliases*")
    assert reply.headline == "*6 aliases* — 1 inactive · 1 catch-all · 1 discarding"
    assert "`@example.net` → `dave@example.net` · catch-all" in reply.text
    assert "`sales@example.org` → `alice@example.org`, `bob@example.org`" in reply.text
    assert "`trap@example.org` → *learn as spam*" in reply.text
    assert "`good@example.org` → *learn as ham*" in reply.text
    assert "`void@example.org` → *discard* (silently dropped) · :no_entry: *inactive*" in reply.text
    assert "null@localhost" not in reply.text


def test_list_of_one_domain_cuts_long_destination_lists(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    everyone = ",".join(f"user{n}@example.net" for n in range(8))
    fake_mailcow.add_alias("all@example.net", everyone, internal=1, public_comment="<!here> staff list")
    slack.command("alias list example.net")
    reply = answer(fake_slack, "*Aliases in example.net*")
    assert reply.headline == "*2 aliases* in `example.net` — 1 catch-all"
    assert "`user4@example.net` and 3 more · internal only" in reply.text
    assert "_&lt;!here&gt; staff list_" in reply.text
    assert "info@example.org" not in reply.text
    assert "<!here>" not in fake_slack.all_text()


def test_domain_with_only_mailboxes_has_none(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_mailbox("solo@solo.example")
    slack.command("alias list solo.example")
    reply = answer(fake_slack, "own address")
    assert reply.headline == "No aliases in `solo.example`."
    assert "does not list a mailbox's own address as an alias" in reply.text


def test_unknown_domain(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("alias list nope.example")
    assert answer(fake_slack, "domain list").headline == ":warning: No domain `nope.example` on this mailcow."


@pytest.mark.parametrize(
    ("text", "told"),
    [
        (
            "alias list @example.org",
            "`@example.org` is not a valid domain; expected a name like `example.org`.",
        ),
        ("alias list example.org extra", "unexpected argument `extra`."),
    ],
)
def test_bad_input_names_the_argument_and_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, text: str, told: str
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, text)
    assert told in said
    assert "Usage: `/mailcow alias list [DOMAIN]`" in said


def test_refused_key_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/alias/all", "401")
    slack.command("alias list")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow refused the bot's API key."
    assert "mailcow refused the API key (authentication failed)" in reply.text
    assert fake_mailcow.failed_logins == 1  # not retried: each 401 counts towards a fail2ban ban
