"""`quarantine list`: held-back mail, newest first, optionally for one address or domain."""

from __future__ import annotations

import pytest

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


@pytest.fixture
def quarantined(fake_mailcow: FakeMailcow) -> dict[str, int]:
    ids = {
        "prize": fake_mailcow.add_quarantine(
            sender="win@spam.example", rcpt="alice@example.org", subject="You won <!channel>", score=18.25
        ),
        "invoice": fake_mailcow.add_quarantine(
            sender="billing@vendor.example",
            rcpt="bob@example.org",
            subject="Invoice 4711",
            score=7.9,
            action="add header",
        ),
        "virus": fake_mailcow.add_quarantine(
            sender="hr@partner.example", rcpt="alice@example.org", subject="CV.zip", score=25.0
        ),
    }
    fake_mailcow.quarantine[str(ids["virus"])]["virus_flag"] = 3
    fake_mailcow.quarantine[str(ids["prize"])]["created"] -= 3600
    return ids


def test_list_newest_first_with_verdicts(
    slack: SlackDriver, fake_slack: FakeSlack, quarantined: dict[str, int]
) -> None:
    slack.command("quarantine", user=VIEWER)
    reply = answer(fake_slack, "*Quarantine*")
    assert reply.headline.startswith(
        "Quarantine: *3 messages* — 2 reject · 1 add header · 1 with a virus · newest "
    )
    assert f"`#{quarantined['virus']}`" in reply.text
    virus = "*reject* score 25.0 · :biohazard_sign: *virus*\n      hr@partner.example → alice@example.org"
    assert virus in reply.text
    assert "win@spam.example → alice@example.org · “You won &lt;!channel&gt;”" in reply.text
    assert "*add header* score 7.9" in reply.text
    assert reply.text.index("CV.zip") < reply.text.index("You won")
    assert "<!channel>" not in fake_slack.all_text()


@pytest.mark.parametrize(
    ("wanted", "subjects"),
    [("alice@example.org", ["CV.zip", "You won"]), ("vendor.example", ["Invoice 4711"])],
)
def test_list_for_an_address_or_domain(
    slack: SlackDriver, fake_slack: FakeSlack, quarantined: dict[str, int], wanted: str, subjects: list[str]
) -> None:
    slack.command(f"quarantine list {wanted}")
    reply = answer(fake_slack, f"*Quarantine for {wanted}*")
    assert reply.headline.startswith(f"Quarantine for `{wanted}`: *{len(subjects)} message")
    shown = [s for s in ("CV.zip", "You won", "Invoice 4711") if s in reply.text]
    assert shown == subjects


def test_nothing_for_an_address(
    slack: SlackDriver, fake_slack: FakeSlack, quarantined: dict[str, int]
) -> None:
    slack.command("quarantine list carol@example.org")
    assert answer(fake_slack, "Quarantine").headline == "Quarantine for `carol@example.org`: *empty*."


def test_empty_quarantine(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("quarantine list")
    assert answer(fake_slack, "Quarantine").headline == "Quarantine: *empty*."


def test_bad_filter_names_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, "quarantine list jane")
    assert "`jane` is not a valid domain; expected a name like `example.org`." in said
    assert "Usage: `/mailcow quarantine list [ADDRESS|DOMAIN]`" in said


def test_refused_key_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/quarantine", "401")
    slack.command("quarantine")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow refused the bot's API key."
    assert "mailcow refused the API key (authentication failed)" in reply.text


def test_show_never_fetches_or_shows_the_raw_message(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, quarantined: dict[str, int]
) -> None:
    """mailcow's single-item read returns the whole RFC 822 message, which can hold anything."""
    item = str(quarantined["virus"])
    fake_mailcow.quarantine[item]["msg"] += "Reset your password at https://phish.example/x <!channel>\r\n"
    slack.command(f"quarantine show {item}", user=VIEWER)
    reply = answer(fake_slack, "*Virus*")
    assert (
        reply.headline
        == f"Quarantined message #{item} from hr@partner.example to alice@example.org, “CV.zip”"
    )
    assert reply.field("Virus") == "yes"
    assert reply.field("Score") == "25.0 (reject)"
    assert "phish.example" not in fake_slack.all_text() and "<!channel>" not in fake_slack.all_text()
    assert [r.path for r in fake_mailcow.requests if r.path.startswith("get/quarantine")] == [
        "get/quarantine/all"
    ]
