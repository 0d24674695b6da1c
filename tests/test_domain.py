"""`domain list` and `domain show` as Slack shows them: limits, quota allocated vs stored, relay, DKIM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


def test_list_shows_every_domain_with_usage(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("domain list", user=VIEWER)
    reply = answer(fake_slack, "*Domains*")
    assert reply.headline == "*2 domains* · 5 mailboxes · 2.1 GiB stored"
    assert "*example.org* — Example Org" in reply.text
    assert "mailboxes 3 of 50 · quota 7.0 GiB of 50.0 GiB (14%) allocated · 2.1 GiB stored" in reply.text
    assert "mailboxes 2 of 10 · quota 4.0 GiB of 10.0 GiB (40%) allocated · 0 B stored" in reply.text
    assert reply.text.index("example.net") < reply.text.index("example.org")


def test_list_flags_inactive_domains(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_domain("old.example", active=0)
    slack.command("domain list")
    reply = answer(fake_slack, "*Domains*")
    assert reply.headline.startswith("*3 domains* (1 inactive)")
    assert "*old.example* · :no_entry: *inactive*" in reply.text


def test_long_list_is_paged_and_attached_as_csv(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    for n in range(120):
        fake_mailcow.add_domain(f"d{n:03d}.example")
    slack.command("domain list")
    reply = answer(fake_slack, "Page 1 of 5")
    assert "[Next ▶]" in reply.text
    fake_slack.wait_for(lambda s: s.uploads)
    (content,) = fake_slack.uploads.values()
    lines = content.decode().splitlines()
    assert len(lines) == 123
    assert lines[0].startswith("domain,description,active,mailboxes,mailbox_limit")


def test_show_tells_allocated_quota_from_stored_bytes(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("domain show example.org")
    reply = answer(fake_slack, "*DKIM*")
    assert reply.headline == (
        "`example.org` — active · 3 of 50 mailboxes · 7.0 GiB of 50.0 GiB (14%) allocated · 2.1 GiB stored"
    )
    assert reply.field("Description") == "Example Org"
    assert reply.field("Mailboxes") == "3 of 50 (47 left)"
    assert reply.field("Aliases") == "2 of 400 (398 left)"
    assert reply.field("Mailbox quota") == "default 3.0 GiB · max 10.0 GiB"
    assert reply.field("Domain quota") == "7.0 GiB of 50.0 GiB (14%) allocated to mailboxes"
    assert reply.field("Stored") == "2.1 GiB in 5,230 messages"
    assert reply.field("Rate limit") == "none"
    assert reply.field("Domain admins") == "none"
    assert reply.field("DKIM") == "selector `dkim`, 2048 bit — DNS record: `/mailcow dkim show example.org`"
    assert "`/mailcow mailbox list example.org`" in reply.text


def test_show_without_dkim_key_says_how_to_make_one(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("domain example.net")  # the short form
    reply = answer(fake_slack, "*DKIM*")
    assert reply.field("DKIM") == "no key — create one with `/mailcow dkim add example.net`"
    assert reply.field("Mailbox quota") == "default 3.0 GiB · max 5.0 GiB"


def test_show_relay_rate_limit_admins_tags(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_domain(
        "relay.example", active=0, backupmx=1, relay_all_recipients=1, gal=0, tags=["vip", "eu"]
    )
    fake_mailcow.admin_write(
        "edit/rl-domain",
        {"items": ["relay.example"], "attr": {"rl_value": 500, "rl_frame": "h"}},
    )
    fake_mailcow.admin_write(
        "add/domain-admin",
        {
            "username": "relayadmin",
            "password": "Secret-Pass-123",
            "password2": "Secret-Pass-123",
            "domains": ["relay.example"],
            "active": 1,
        },
    )
    slack.command("domain show relay.example")
    reply = answer(fake_slack, "*DKIM*")
    assert reply.headline.startswith(":warning: `relay.example` — inactive")
    assert reply.field("State") == "inactive"
    assert reply.field("Relay") == "backup MX: yes\nrelay all recipients: yes\nrelay unknown only: no"
    assert reply.field("Rate limit") == "500 messages per hour"
    assert reply.field("Domain admins") == "relayadmin"
    assert reply.field("Tags") == "`vip`, `eu`"
    assert reply.field("Global address list") == "no"


def test_show_escapes_what_mailcow_sends(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_domain("loud.example", description="<!channel> please read")
    slack.command("domain show loud.example")
    reply = answer(fake_slack, "*DKIM*")
    assert reply.field("Description") == "&lt;!channel&gt; please read"
    assert "<!channel>" not in fake_slack.all_text()


def test_unknown_domain_is_an_answer_not_an_error(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("domain show nope.example")
    reply = answer(fake_slack, "domain list")
    assert reply.headline == ":warning: No domain `nope.example` on this mailcow."
    assert "`/mailcow domain list` shows every domain." in reply.text


@pytest.mark.parametrize(
    ("text", "told"),
    [
        (
            "domain show not_a_domain",
            "`not_a_domain` is not a valid domain; expected a name like `example.org`.",
        ),
        ("domain show", "DOMAIN is missing."),
        ("domain list everything", "unexpected argument `everything`."),
        ("domain list active=1", "unknown option `active=`."),
    ],
)
def test_bad_input_names_the_argument_and_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, text: str, told: str
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, text)
    assert told in said
    assert "Usage: `/mailcow domain" in said
    assert fake_slack.posts() == []


def test_mailcow_down_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/domain/all", "html500", times=3)  # the first try and both retries
    slack.command("domain list")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow did not answer."
    assert "its connection to Redis failed (HTTP 500)" in reply.text


class TestEmptyMailcow:
    @pytest.fixture
    def fake_mailcow(self) -> Iterator[FakeMailcow]:
        with FakeMailcow() as fake:
            yield fake

    def test_no_domains_says_so(self, slack: SlackDriver, fake_slack: FakeSlack) -> None:
        slack.command("domain list")
        reply = answer(fake_slack, "domain add")
        assert reply.headline == "No domains on this mailcow yet."
        assert "Add one with `/mailcow domain add example.org`." in reply.text
