"""`mailcow-chatops shell`: commands typed (or piped) in a terminal, answered as Slack would show them.

The reads run the real command line as a subprocess against the mailcow stand-in; the Slack
stand-in proves the console never posts anything. Approvals run in-process, through the same
Bolt listeners as Slack's clicks.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console import Console, mrkdwn_to_text, open_console
from bot.services import Services
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.processes import env_for, run_cli
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, ALLOWED_2, APPROVER, OPERATOR, VIEWER


def shell(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path, commands: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`mailcow-chatops shell ARGS` with `commands` piped in, as a support script would run it."""
    env = env_for(fake_slack, fake_mailcow, tmp_path, CHATOPS_ALLOWED_CHANNELS=f"{ALLOWED},{ALLOWED_2}")
    return run_cli(["shell", *args], env, tmp_path, stdin=commands)


def test_piped_reads_print_what_slack_would_show_and_post_nothing(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    result = shell(fake_slack, fake_mailcow, tmp_path, "queue\n/mailcow mailbox list\nhelp\n", "--as", VIEWER)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    queue, mailboxes, help_ = re.split(r"^mailcow> .*$", out, flags=re.MULTILINE)[1:]
    assert f"── message in #{ALLOWED} ──\nMail queue: 6 messages — deferred 5 · active 1" in queue
    assert f"@{VIEWER} · `/mailcow queue`" in queue
    assert f"── in the thread, #{ALLOWED} ──" in queue
    assert "Top sender domains:\n    3 × example.org" in queue
    assert "Messages, oldest first" in queue
    assert "5 mailboxes" in mailboxes
    assert "`alice@example.org` — Alice Liddell" in mailboxes
    assert f"── only @{VIEWER} sees this, in #{ALLOWED} ──" in help_
    assert "queue — Postfix's mail queue" in help_
    for markup in ("*", "&lt;", "<@"):
        assert markup not in out
    assert fake_slack.calls == [], "the console must not call Slack"
    assert not fake_mailcow.calls("edit/") and not fake_mailcow.calls("delete/")


def test_a_viewer_is_refused_a_change(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    result = shell(fake_slack, fake_mailcow, tmp_path, "queue flush\n", "--as", VIEWER)
    assert result.returncode == 0, result.stderr
    assert "needs an operator, and you are not one." in result.stdout
    assert not fake_mailcow.calls("edit/")
    assert fake_slack.calls == []


def test_identity_and_channel_are_checked_before_anything_runs(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    elsewhere = shell(fake_slack, fake_mailcow, tmp_path, "queue\n", "--channel", "C0RANDOM")
    assert elsewhere.returncode == 2
    assert "--channel C0RANDOM is not in CHATOPS_ALLOWED_CHANNELS" in elsewhere.stderr
    group = shell(fake_slack, fake_mailcow, tmp_path, "queue\n", "--as", "S0ONCALL")
    assert group.returncode == 2
    assert "not a Slack user ID" in group.stderr
    assert not fake_mailcow.requests


def test_long_lists_page_like_the_buttons(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    fake_mailcow.add_queue_items(30)
    result = shell(fake_slack, fake_mailcow, tmp_path, "queue\npage 2\n", "--channel", ALLOWED_2)
    assert result.returncode == 0, result.stderr
    first, second = re.split(r"^mailcow> .*$", result.stdout, flags=re.MULTILINE)[1:]
    assert "Page 1 of 2 · 1–20 of 36" in first
    assert "[ Next ▶ ] (`page 2`)" in first
    assert f"── message in #{ALLOWED_2} ──" in first
    assert "── the list message now reads ──" in second
    assert "Page 2 of 2 · 21–36 of 36" in second


@pytest.fixture
def consoles(services: Services) -> Iterator[tuple[Console, Console]]:
    """A requester's and an approver's console over one set of services (one database)."""
    requester = open_console(services, OPERATOR, ALLOWED)
    approver = Console(services, APPROVER, ALLOWED, requester.slack)
    yield requester, approver


def request_id(lines: list[str]) -> str:
    found = re.search(r"\(`approve (\S+)`\)", "\n".join(lines))
    assert found, lines
    return found.group(1)


def test_destructive_command_waits_for_a_second_person(
    consoles: tuple[Console, Console], fake_mailcow: FakeMailcow, fake_slack: FakeSlack
) -> None:
    requester, approver = consoles
    asked = requester.run('queue flush reason="after the outage"')
    text = "\n".join(asked)
    assert "🔒 Approval needed: Flush the mail queue" in text
    assert "Reason: after the outage" in text
    approval = request_id(asked)
    assert f"(`deny {approval}`)" in text
    assert not fake_mailcow.calls("edit/mailq")

    own = "\n".join(requester.run(f"approve {approval}"))
    assert f"only @{OPERATOR} sees this" in own
    assert not fake_mailcow.calls("edit/mailq")

    approved = "\n".join(approver.run(f"approve {approval}"))
    assert "✅ Done: Flush the mail queue" in approved
    assert f"approved by @{APPROVER}" in approved
    assert len(fake_mailcow.calls("edit/mailq")) == 1

    again = "\n".join(approver.run(f"approve {approval}"))
    assert "Not approved: already done" in again
    assert len(fake_mailcow.calls("edit/mailq")) == 1
    assert fake_slack.calls == []


def test_deny_fills_the_reason_form(consoles: tuple[Console, Console], fake_mailcow: FakeMailcow) -> None:
    requester, approver = consoles
    approval = request_id(requester.run("queue flush"))
    denied = "\n".join(approver.run(f"deny {approval} not during business hours"))
    assert f"🚫 Denied by @{APPROVER}" in denied
    assert "not during business hours" in denied
    assert not fake_mailcow.calls("edit/mailq")


def test_mrkdwn_becomes_plain_text() -> None:
    assert (
        mrkdwn_to_text("*Done* by <@U1> in <#C1|ops>: _quick_ &lt;x&gt;") == "Done by @U1 in #ops: quick <x>"
    )
    assert mrkdwn_to_text("<mailto:a@b.org|a@b.org> <https://x.org|docs>") == "a@b.org docs (https://x.org)"
    assert (
        mrkdwn_to_text("at <!date^1700000000^{date_short}|2023-11-14 22:13 UTC>") == "at 2023-11-14 22:13 UTC"
    )
    assert mrkdwn_to_text("keep `*code*` and `a_b_c`") == "keep `*code*` and `a_b_c`"
    assert mrkdwn_to_text("log:\n```line &lt;1&gt;\nline 2```") == "log:\n    line <1>\n    line 2"
    assert mrkdwn_to_text(":warning: *`POST x`* on <!here>") == "⚠️ `POST x` on @here"
