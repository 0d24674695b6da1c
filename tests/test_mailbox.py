"""`mailbox list` and `mailbox show`: what a help-desk person reads about a mailbox in Slack."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.mailcow import MIB, FakeMailcow
from tests.fakes.reading import answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"MAILCOW_TIMEOUT": 0.5}  # the timeout test waits this long


def test_list_shows_quota_state_and_last_login(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("mailbox list", user=VIEWER)
    reply = answer(fake_slack, "*Mailboxes, by address*")
    assert reply.headline == "*5 mailboxes* — 4 active · 1 login disabled, mail accepted · 2.1 GiB used"
    assert reply.field("Login disabled, mail accepted") == "1"
    assert (
        "`alice@example.org` — Alice Liddell\n      1.2 GiB of 3.0 GiB (39%) · last login 1 h ago"
        in reply.text
    )
    assert "`carol@example.org` — Carol Danvers · :no_entry_sign: login disabled, mail accepted" in reply.text
    assert "`dave@example.net` — Dave Null\n      0 B of 2.0 GiB (0%) · last login never" in reply.text


def test_list_one_domain_fullest_first(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_mailbox("full@example.org", quota_mib=100, quota_used=95 * MIB, active=0)
    fake_mailcow.add_mailbox("free@example.org", quota_mib=0, quota_used=5 * MIB)
    slack.command("mailbox list example.org sort=usage")
    reply = answer(fake_slack, "*Mailboxes in example.org, by usage*")
    assert reply.headline.startswith("*5 mailboxes* in `example.org` — 3 active · 1 inactive ·")
    assert reply.field("At least 90% full") == "1"
    order = [reply.text.index(f"`{who}@example.org`") for who in ("full", "bob", "alice")]
    assert order == sorted(order)
    assert "95.0 MiB of 100.0 MiB (95%) :warning:" in reply.text
    assert "`full@example.org` — Full · :no_entry: *inactive*" in reply.text
    assert "5.0 MiB of unlimited" in reply.text
    assert "dave@example.net" not in reply.text


def test_list_of_a_domain_without_mailboxes(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_domain("empty.example")
    slack.command("mailbox list empty.example")
    reply = answer(fake_slack, "mailbox create")
    assert reply.headline == "No mailboxes in `empty.example`."


def test_list_of_an_unknown_domain(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("mailbox list nope.example")
    assert answer(fake_slack, "domain list").headline == ":warning: No domain `nope.example` on this mailcow."


def test_show_answers_the_help_desk_questions(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("mailbox show Alice@Example.org")
    reply = answer(fake_slack, "*Aliases delivering here*")
    assert reply.headline == (
        "`alice@example.org` (Alice Liddell) — active · 1.2 GiB of 3.0 GiB (39%) · last login 1 h ago"
    )
    assert reply.field("State") == "active"
    assert reply.field("Quota") == "1.2 GiB of 3.0 GiB (39%)"
    assert reply.field("Messages") == "5,230"
    assert reply.field("Last login").startswith("IMAP: 1 h ago (")
    assert "POP3: never" in reply.field("Last login")
    assert reply.field("Password changed").startswith("2026-01-05 09:12:44 (about ")
    assert reply.field("Must change password") == "no"
    assert reply.field("Authentication") == "mailcow (passwords are set in mailcow)"
    assert reply.field("Protocols").startswith("allowed: IMAP, POP3, SMTP, Sieve, ActiveSync")
    assert reply.field("TLS enforced") == "incoming: not required\noutgoing: not required"
    assert (
        reply.field("Aliases delivering here") == "`info@example.org`\n`sales@example.org` (also to 1 other)"
    )


def test_show_pending_password_change_protocols_tls_rate_limit_tags(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.rate_limits["frank@example.org"] = (20, "m")
    fake_mailcow.add_mailbox(
        "frank@example.org",
        tags=["intern"],
        sender_acl=["team@example.org", "@partner.example"],
        force_pw_update="1",
        pop3_access="0",
        eas_access="0",
        tls_enforce_in="1",
    )
    fake_mailcow.add_alias("@example.org", "frank@example.org")
    slack.command("mailbox show frank@example.org")
    reply = answer(fake_slack, "*Aliases delivering here*")
    assert reply.field("Must change password") == (
        "*yes*: until a new password is set, only the mailcow web UI login works"
    )
    assert reply.field("Protocols").endswith("*denied: POP3, ActiveSync*")
    assert reply.field("TLS enforced") == "incoming: required\noutgoing: not required"
    assert reply.field("Rate limit") == "20 messages per minute"
    assert reply.field("Tags") == "`intern`"
    assert reply.field("May also send as") == "`team@example.org`, `@partner.example`"
    assert reply.field("Aliases delivering here") == "`@example.org` (catch-all for @example.org)"


def test_show_ldap_mailbox_says_where_passwords_change(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("mailbox erin@example.net")  # the short form
    reply = answer(fake_slack, "*Authentication*")
    assert reply.field("Authentication") == "LDAP: password changes happen in the directory, not in mailcow"
    assert reply.field("Aliases delivering here") == "none"
    assert reply.field("May also send as") == "only its own address and aliases"


def test_show_login_disabled_mailbox_is_flagged(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("mailbox show carol@example.org")
    reply = answer(fake_slack, "*State*")
    assert reply.headline.startswith(
        ":warning: `carol@example.org` (Carol Danvers) — login disabled, mail accepted"
    )
    assert reply.field("State") == "login disabled, mail accepted"


def test_show_escapes_names(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> None:
    fake_mailcow.add_mailbox("eve@example.org", name="<!channel> *Eve*")
    slack.command("mailbox show eve@example.org")
    reply = answer(fake_slack, "*Name*")
    assert reply.field("Name") == "&lt;!channel&gt; *Eve*"
    assert "<!channel>" not in fake_slack.all_text()


def test_missing_mailbox_is_an_answer_with_a_hint(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("mailbox show zed@example.org")
    reply = answer(fake_slack, "mailbox list")
    assert reply.headline == ":warning: No mailbox `zed@example.org`."
    assert "`/mailcow mailbox list example.org`" in reply.text


def test_missing_mailbox_that_is_an_alias_says_where_mail_goes(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    slack.command("mailbox show sales@example.org")
    reply = answer(fake_slack, "alias list")
    assert reply.headline == (
        "No mailbox `sales@example.org`: it is an alias that delivers to "
        "`alice@example.org`, `bob@example.org`."
    )


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("mailbox show jane", "`jane` is not a valid e-mail address; expected `name@example.org`."),
        ("mailbox show", "ADDRESS is missing."),
        ("mailbox list example", "`example` is not a valid domain; expected a name like `example.org`."),
        (
            "mailbox list sort=size",
            "`sort=size` is not a sort order; expected one of address, usage, login, name.",
        ),
        ("mailbox list example.org quota=1", "unknown option `quota=`."),
    ],
)
def test_bad_input_names_the_argument_and_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, text: str, told: str
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, text)
    assert told in said
    assert "Usage: `/mailcow mailbox" in said


def test_mailcow_timeout_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.stall_seconds = 1.0
    fake_mailcow.fail_next("get/mailbox/", "timeout")
    slack.command("mailbox show alice@example.org")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow did not answer."
    assert "mailcow did not answer get/mailbox/{x} within 0.5 s." in reply.text
