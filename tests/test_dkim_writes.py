"""`dkim add` (at once), `dkim duplicate` and `dkim delete` (approval), driven as Slack drives them.

mailcow's `add/dkim` wants its domains as one string and never replaces a key, `add/dkim_duplicate`
overwrites the target's key without checking the target domain, and `delete/dkim` answers "removed"
even when there was nothing (SERVER-FACTS §4.8): the tests check the bot sends the right shapes,
refuses the cases mailcow would get wrong before sending anything, and shows each key by selector,
length and the end of its public key, so a replaced key is visible to the approver and in the
read-back.
"""

from __future__ import annotations

import pytest

from bot.mailcow import calls
from bot.services import Services
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask, approve
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import ephemeral, parents, private_answer, reply_to, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, SlackDriver

# The app with an injected clock and no background thread (tests/fakes/manual_app.py).
services, bolt_app = manual_app.services, manual_app.bolt_app


def key_text(fake: FakeMailcow, domain: str) -> str:
    key = fake.dkim_keys[domain]
    return f"selector {key['selector']} · {key['length']} bit · key …{key['pubkey'][-8:]}"


def test_add_sends_the_domains_as_a_string_and_reads_the_new_key_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    posted = reply_to(slack, fake_slack, "dkim add example.net selector=mail2026 bits=3072")
    assert posted.headline == (
        ":white_check_mark: Done: Create a 3072-bit DKIM key for example.net with selector mail2026; "
        "receivers can check it once its TXT record is published (dkim show example.net)"
    )
    assert fake_mailcow.sent() == [
        ("add/dkim", {"domains": "example.net", "dkim_selector": "mail2026", "key_size": 3072})
    ]
    assert f'example.net: "no key" → "{key_text(fake_mailcow, "example.net")}"' in posted.text
    assert key_text(fake_mailcow, "example.net").startswith("selector mail2026 · 3072 bit")


def test_add_defaults_to_a_2048_bit_key_with_selector_dkim(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    reply_to(slack, fake_slack, "dkim add example.net")
    assert fake_mailcow.sent() == [
        ("add/dkim", {"domains": "example.net", "dkim_selector": "dkim", "key_size": 2048})
    ]


def test_an_existing_key_is_pointed_out_instead_of_sending_what_mailcow_refuses(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("dkim add example.org")
    told = ephemeral(fake_slack)
    assert f"`example.org` already has a DKIM key ({key_text(fake_mailcow, 'example.org')})" in told
    assert "mailcow never replaces one. `/mailcow dkim show example.org` shows its DNS record" in told
    assert "`/mailcow dkim delete example.org` first" in told
    assert fake_mailcow.writes() == [] and parents(fake_slack) == []


def test_mailcows_refusal_of_an_add_is_shown_in_plain_words(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    """Another admin made a key between the check and the run: mailcow's own answer says so."""
    fake_mailcow.fail_next("add/dkim", "danger:dkim_domain_or_sel_invalid")
    posted = reply_to(slack, fake_slack, "dkim add example.net")
    assert posted.headline.startswith(":x: Failed: Create a 2048-bit DKIM key for example.net")
    assert "the DKIM domain or selector is invalid, or a key already exists" in posted.text


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("dkim add nope.example", "`nope.example` is not a domain on this mailcow"),
        ("dkim add example.net bits=1000", "the DKIM key size is one of 1024, 2048, 3072, 4096."),
        ("dkim add example.net bits=many", "`bits` must be a whole number, not `many`."),
        ("dkim add example.net selector=bad/selector", "a DKIM selector is letters, digits"),
        ("dkim duplicate example.org nope.example", "`nope.example` is not a domain on this mailcow"),
        ("dkim duplicate example.org example.org", "the source and target domain are the same."),
        ("dkim duplicate example.org", "the domain that gets the key is missing."),
        ("dkim delete", "DOMAIN is missing."),
    ],
)
def test_bad_input_is_answered_privately_and_nothing_is_sent(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    answer = private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)
    assert "That command is not quite right." in answer and told in answer, answer


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("dkim delete example.net", "`example.net` has no DKIM key; there is nothing to delete."),
        ("dkim duplicate example.net example.org", "`example.net` has no DKIM key to copy"),
    ],
)
def test_a_missing_key_is_said_before_anything_is_requested(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    assert told in private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)
    assert parents(fake_slack) == []


def test_delete_shows_the_selector_and_that_mail_goes_out_unsigned_then_removes_the_key(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    before = key_text(fake_mailcow, "example.org")
    asked, done, thread = approve(
        slack, fake_slack, ask, 'dkim delete example.org reason="moving to a new key"'
    )
    assert (
        "Delete the DKIM key of example.org (selector dkim, 2048 bit): its mail goes out unsigned until "
        "a new key is created and its record published in DNS"
    ) in asked
    assert f"*example.org*\n{before}" in asked
    assert "*Reason*\nmoving to a new key" in asked
    assert fake_mailcow.sent() == [("delete/dkim", ["example.org"])]
    assert "example.org" not in fake_mailcow.dkim_keys
    assert f'example.org: "{before}" → "no key"' in thread
    assert "DKIM key for example.org removed" in done


def test_duplicate_replaces_the_targets_key_and_the_read_back_shows_the_new_one(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    ask: Ask,
) -> None:
    services.mailcow.write(calls.add_dkim("example.net", key_size=1024))
    source, replaced = key_text(fake_mailcow, "example.org"), key_text(fake_mailcow, "example.net")
    fake_mailcow.reset_log()
    asked, _, thread = approve(slack, fake_slack, ask, "dkim duplicate example.org example.net")
    assert (
        f"Copy the DKIM key of example.org ({source}) to example.net, replacing its own key ({replaced}); "
        "example.net's DNS record must then be the one of example.org"
    ) in asked
    assert f"*example.org*\n{source}" in asked and f"*example.net*\n{replaced}" in asked
    assert fake_mailcow.sent() == [
        ("add/dkim_duplicate", {"from_domain": "example.org", "to_domain": ["example.net"]})
    ]
    assert fake_mailcow.dkim_keys["example.net"] == fake_mailcow.dkim_keys["example.org"]
    assert f'example.net: "{replaced}" → "{source}"' in thread


def test_a_key_replaced_after_the_request_stops_the_delete(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, ask: Ask
) -> None:
    """Same selector and length, another key: the end of the public key tells them apart."""
    request = ask("dkim delete example.org")
    fake_mailcow._make_dkim("example.org", "dkim", 2048)
    slack.click("approval_approve", request.id, user=APPROVER)
    text = wait_shown(fake_slack, request.ts, "Not run, the target changed")
    assert "example.org: " in text
    assert fake_mailcow.writes() == []
