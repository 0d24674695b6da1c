"""`logs TYPE [N] [grep=TEXT]`: every log type readable, the bounds, grep, and no secret from the logs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bot.mailcow import LOG_TYPES
from commands.logs import KINDS
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, private_answer
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver

SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "postfix": (
        {
            "time": "1754400000",
            "priority": "warning",
            "program": "postfix/smtpd",
            "message": "warning: a_b_c",
        },
        "`2025-08-05 13:20:00Z` :large_orange_circle: *postfix/smtpd* `warning: a_b_c`",
    ),
    "dovecot": (
        {"priority": "info", "program": "dovecot", "message": "imap(jane@example.org): Disconnected"},
        "*dovecot* `imap(jane@example.org): Disconnected`",
    ),
    "sogo": (
        {"priority": "err", "program": "sogod", "message": "<0x0> Login failed"},
        ":red_circle: *sogod* `&lt;0x0&gt; Login failed`",
    ),
    "netfilter": (
        {"priority": "crit", "message": "Banning 198.51.100.8/32 for 30 minutes"},
        ":red_circle: `Banning 198.51.100.8/32 for 30 minutes`",
    ),
    "autodiscover": (
        {
            "ua": "Microsoft Office/16.0",
            "user": "jane@example.org",
            "ip": "198.51.100.3",
            "service": "activesync",
        },
        "jane@example.org from `198.51.100.3` · activesync · _Microsoft Office/16.0_",
    ),
    "api": (
        {"uri": "/api/v1/get/domain/all", "method": "GET", "remote": "192.0.2.10", "data": ""},
        "*GET* `/api/v1/get/domain/all` from `192.0.2.10`",
    ),
    "ratelimited": (
        {
            "rcpt": "a@gmail.com",
            "from": "bob@example.org",
            "user": "bob@example.org",
            "rl_info": "user(RLabc)",
            "rl_name": "user",
            "rl_hash": "RLabc",
            "qid": "4B1C2D3E4F",
            "ip": "198.51.100.9",
            "message_id": "<m@example.org>",
            "header_subject": "Newsletter",
            "header_from": "Bob <bob@example.org>",
        },
        "*bob@example.org* hit the `user` limit → a@gmail.com · “Newsletter” · qid `4B1C2D3E4F` · "
        "from `198.51.100.9`",
    ),
    "watchdog": (
        {"service": "Postfix", "lvl": "4", "hpnow": "4", "hptotal": "5", "hpdiff": "-1"},
        ":large_orange_circle: *Postfix* health 4/5 (-1)",
    ),
    "acme": (
        {"message": "base64," + base64.b64encode(b"Certificate for mail.example.org renewed").decode()},
        "`Certificate for mail.example.org renewed`",
    ),
    "rspamd-history": (
        {
            "unix_time": 1754400000,
            "score": 16.456,
            "required_score": 15,
            "action": "reject",
            "sender_smtp": "x@spam.example",
            "rcpt_smtp": ["jane@example.org", "joe@example.org"],
            "subject": "Prize",
            "symbols": {"BAYES_SPAM": {"score": 5}},
        },
        ":red_circle: *reject* 16.46/15.00 · x@spam.example → jane@example.org, joe@example.org · “Prize”",
    ),
    "cron": (
        {"priority": "info", "task": "ldap-sync", "message": "synced 12 users"},
        "*ldap-sync* `synced 12 users`",
    ),
    "ui": (
        {
            "type": "danger",
            "task": "t1",
            "msg": '["access_denied"]',
            "call": "[]",
            "user": "admin",
            "role": "admin",
            "remote": "10.0.0.1",
        },
        ":red_circle: admin (admin) from `10.0.0.1`: access denied or invalid form data",
    ),
    "sasl": (
        {
            "service": "imap",
            "app_password": 3,
            "username": "jane@example.org",
            "real_rip": "198.51.100.20",
            "datetime": "2026-08-05 10:00:00",
        },
        "jane@example.org via imap from `198.51.100.20` · app password #3",
    ),
}


def _postfix_lines(fake_mailcow: FakeMailcow, count: int, message: str = "line {n}") -> None:
    for n in range(count):
        fake_mailcow.add_log(
            "postfix", {"priority": "info", "program": "postfix/smtp", "message": message.format(n=n)}
        )


def test_every_log_type_of_the_client_is_covered() -> None:
    assert set(KINDS) == set(LOG_TYPES) == set(SAMPLES)


@pytest.mark.parametrize("log_type", LOG_TYPES)
def test_each_type_reads_well(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, log_type: str
) -> None:
    entry, expected = SAMPLES[log_type]
    fake_mailcow.add_log(log_type, entry)
    slack.command(f"logs {log_type} 1", user=VIEWER)
    reply = answer(fake_slack, f"*{log_type} log, newest first (UTC)*")
    assert reply.headline == f"`{log_type}` log: the newest 1 line"
    assert expected in reply.text
    assert fake_mailcow.calls(f"get/logs/{log_type}")[-1].path == f"get/logs/{log_type}/1"


def test_logs_alone_lists_the_types(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, "logs")
    assert all(f"`{name}` — " in said for name in LOG_TYPES)
    assert "default 50, at most 1,000" in said


def test_default_is_50_newest_paged(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    _postfix_lines(fake_mailcow, 60)
    slack.command("logs show postfix")
    reply = answer(fake_slack, "Page 1 of 2")
    assert reply.headline == "`postfix` log: the newest 50 lines"
    assert fake_mailcow.calls("get/logs/postfix")[-1].path == "get/logs/postfix/50"
    assert reply.text.index("`line 59`") < reply.text.index("`line 58`")
    assert "[Next ▶]" in reply.text


def test_short_log_says_it_is_whole(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("logs dovecot 20")
    assert answer(fake_slack, "dovecot log").headline == "`dovecot` log: 2 lines, the whole log"


def test_grep_searches_a_wider_window_and_says_so(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    _postfix_lines(fake_mailcow, 3000, "{n:04X}: to=<someone@example.net>, status=sent")
    for n in (1, 2, 3):
        fake_mailcow.add_log(
            "postfix", {"program": "postfix/smtp", "message": f"match {n}: to=<Jane@Example.org>"}
        )
        _postfix_lines(fake_mailcow, 100)
    total = len(fake_mailcow.logs["postfix"])
    slack.command("logs postfix 2 grep=jane@example.ORG")
    reply = answer(fake_slack, "postfix log, newest first")
    assert reply.headline == "`postfix` log: 2 lines containing `jane@example.ORG`, newest first"
    assert fake_mailcow.calls("get/logs/postfix")[-1].path == "get/logs/postfix/5000"
    assert f"`grep` searched the newest {total:,} lines (at most 5,000), ignoring case" in reply.text
    assert "match 3" in reply.text
    assert "match 2" in reply.text
    assert "match 1" not in reply.text


def test_grep_without_match(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command('logs postfix grep="no such thing"')
    reply = answer(fake_slack, "searched")
    assert reply.headline == "No line of the newest 3 in the `postfix` log contains `no such thing`."


def test_request_bodies_and_ui_calls_are_never_shown_nor_searchable(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_log(
        "api",
        {
            "uri": "/api/v1/add/syncjob",
            "method": "POST",
            "remote": "192.0.2.10",
            "data": {"attr": {"password1": "hunter2-SECRET", "username": "jane@example.org"}},
        },
    )
    fake_mailcow.add_log(
        "ui",
        {
            "type": "success",
            "task": "t",
            "msg": '["mailbox_modified","jane@example.org"]',
            "call": '["edit","syncjob",{"password1":"imap-pass-SECRET"}]',
            "user": "admin",
            "role": "admin",
            "remote": "10.0.0.1",
        },
    )
    slack.command("logs api")
    reply = answer(fake_slack, "api log")
    assert "*POST* `/api/v1/add/syncjob`" in reply.text
    assert "Request bodies (`data`) are not shown" in reply.text
    slack.command("logs api grep=hunter2")
    assert answer(fake_slack, "contains `hunter2`").headline.startswith(
        "No line of the newest 1 in the `api`"
    )
    slack.command("logs ui grep=imap-pass")
    assert answer(fake_slack, "contains `imap-pass`").headline.startswith(
        "No line of the newest 1 in the `ui`"
    )
    slack.command("logs ui")
    assert "mailbox jane@example.org changed" in answer(fake_slack, "*ui log, newest").text
    assert "SECRET" not in fake_slack.all_text()


def test_log_lines_are_escaped(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> None:
    fake_mailcow.add_log(
        "postfix", {"program": "postfix/cleanup", "message": "reject: header Subject: <!channel> `x`"}
    )
    slack.command("logs postfix 1")
    reply = answer(fake_slack, "postfix log")
    assert "`reject: header Subject: &lt;!channel&gt; 'x'`" in reply.text
    assert "<!channel>" not in fake_slack.all_text()


def test_empty_log(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("logs cron")
    assert answer(fake_slack, "UTC").headline == "The `cron` log is empty."


def test_empty_rspamd_history_says_rspamd_may_be_unreachable(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_log("rspamd-history", SAMPLES["rspamd-history"][0])
    fake_mailcow.dockerapi_up = False
    slack.command("logs rspamd")  # a nickname
    reply = answer(fake_slack, "UTC")
    assert reply.headline == "The `rspamd-history` log is empty."
    assert "mailcow also answers an empty rspamd history when it cannot reach rspamd." in reply.text


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("logs postfix 0", "N (how many lines) must be at least 1, not 0."),
        ("logs postfix 1001", "N (how many lines) must be at most 1000, not 1001."),
        ("logs postfix lots", "N (how many lines) must be a whole number, not `lots`."),
        ("logs postfix 10 20", "unexpected argument `20`."),
        ("logs postfix grep=", "`grep=` needs the text to look for"),
        ("logs postfix since=1h", "unknown option `since=`."),
        (
            "logs postfx",
            "`postfx` is not a log type. Did you mean `postfix`? Expected one of: postfix, dovecot,",
        ),
    ],
)
def test_bad_input_names_the_argument_and_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, text: str, told: str
) -> None:
    said = private_answer(slack, fake_slack, fake_mailcow, text)
    assert told in said
    assert "Usage: `/mailcow logs [TYPE] [N] [grep=TEXT]`" in said


def test_database_down_is_named_in_the_thread(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/logs/sasl", "html500:database", times=3)
    slack.command("logs sasl")
    reply = answer(fake_slack, "ref `")
    assert reply.headline == ":x: mailcow did not answer."
    assert "its connection to its database (MariaDB) failed" in reply.text
