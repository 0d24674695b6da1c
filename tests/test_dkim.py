"""`dkim show`: the TXT record to publish, split for DNS, and what to do when there is no key."""

from __future__ import annotations

import re

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import Answer, answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver


def _zone_strings(reply: Answer) -> list[str]:
    zone = reply.text.split("*Zone file*", 1)[1]
    block = zone[zone.index("```") + 3 : zone.index("```", zone.index("```") + 3)]
    return re.findall(r'"([^"]*)"', block)


def _assert_record(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, domain: str, bits: int, selector: str
) -> None:
    value = f"v=DKIM1;k=rsa;t=s;s=email;p={fake_mailcow.dkim_keys[domain]['pubkey']}"
    reply = answer(fake_slack, "*Zone file*")
    name = f"{selector}._domainkey.{domain}"
    assert reply.headline == f"DKIM record for `{domain}`: TXT at `{name}` ({bits} bit)"
    assert reply.field("Name") == f"`{name}`"
    assert reply.field("Type") == "TXT"
    assert reply.field("Key length") == f"{bits} bit"
    assert f"```{value}```" in reply.text
    assert f"```{name}. IN TXT (\n" in reply.text
    strings = _zone_strings(reply)
    assert len(strings) == -(-len(value) // 255) > 1
    assert all(len(s) <= 255 for s in strings)
    assert "".join(strings) == value


def test_record_is_split_into_dns_strings(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("dkim show example.org", user=VIEWER)
    _assert_record(fake_slack, fake_mailcow, "example.org", 2048, "dkim")


def test_long_key_with_own_selector(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.admin_write(
        "add/dkim", {"domains": "example.net", "dkim_selector": "s2026", "key_size": 4096}
    )
    slack.command("dkim show example.net")
    _assert_record(fake_slack, fake_mailcow, "example.net", 4096, "s2026")


def test_no_key_says_how_to_create_one(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("dkim example.net")  # the short form
    reply = answer(fake_slack, "dkim add")
    assert reply.headline == ":warning: `example.net` has no DKIM key: its outgoing mail is not signed."
    assert "Create one with `/mailcow dkim add example.net`" in reply.text


def test_unknown_domain(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("dkim show nope.example")
    assert answer(fake_slack, "domain list").headline == ":warning: No domain `nope.example` on this mailcow."


def test_bad_domain_names_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, "dkim show mail@example.org")
    assert "`mail@example.org` is not a valid domain; expected a name like `example.org`." in said
    assert "Usage: `/mailcow dkim show DOMAIN`" in said


def test_redis_down_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/dkim/", "html500:redis", times=3)
    slack.command("dkim show example.org")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow did not answer."
    assert "mailcow could not serve get/dkim/{x}: its connection to Redis failed" in reply.text
