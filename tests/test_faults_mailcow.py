"""mailcow faults, end to end through Slack: what the person and the channel are told, and what
mailcow received, when mailcow times out, refuses the connection, answers 500 with an HTML page,
200 with an empty body, `danger`, 401 or 403.

Reads (`queue`, `mailbox show …`) answer with what went wrong and retry only what is safe to retry.
Writes (an approved `queue flush`, an operator's `queue release ID`) are never retried once they may
have reached mailcow: the request ends failed with mailcow's answer in its message and thread, a
timeout or an empty answer says the outcome is unknown, and a new request for the same action runs.
`tests/test_mailcow_client.py` covers the same faults at the client's level.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.approvals import State
from bot.approvals.blocks import APPROVE
from bot.services import Services
from tests.fakes import faults, manual_app
from tests.fakes.approval_plugin import Ask, approval_state, audit_events
from tests.fakes.faults import TIMEOUT, Gate, failures
from tests.fakes.mailcow import RO_KEY, FakeMailcow
from tests.fakes.reading import reply_to, wait_shown, wait_thread
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, APPROVER_2, SlackDriver

settings_overrides, services, bolt_app = faults.settings_overrides, faults.services, manual_app.bolt_app
gate, test_verbs = faults.gate, faults.test_verbs

REFUSED = "connection refused"
UNKNOWN_OUTCOME = "The change may or may not have been made: check in mailcow before trying again."
CHECK_KEY = (
    "Check MAILCOW_API_KEY and the API allow-list",
    "repeated failures get the bot's IP address banned",
)
BACKENDS = {"redis": "Redis", "database": "its database (MariaDB)", "dockerapi": "the dockerapi container"}
WRONG_KEY = "WRONG0-000000-000000-000000-000000"


@dataclass(frozen=True)
class Fault:
    """One way mailcow fails, and what the bot must make of it."""

    mode: str  # a FakeMailcow fault mode, or REFUSED
    says: tuple[str, ...]  # with {endpoint} and {target} filled in
    reached: int  # requests to the failing endpoint that reached mailcow
    unknown: bool = False  # a write whose outcome the bot cannot know

    def inject(self, fake_mailcow: FakeMailcow, gate: Gate, prefix: str, times: int = 1) -> None:
        if self.mode == REFUSED:
            gate.refused = (prefix,)
        else:
            fake_mailcow.stall_seconds = 1.0  # longer than TIMEOUT, short enough to wait for
            fake_mailcow.fail_next(prefix, self.mode, times)

    def words(self, endpoint: str, target: str = "") -> list[str]:
        return [text.format(endpoint=endpoint, target=target) for text in self.says]

    def __str__(self) -> str:
        return self.mode


def server_error(backend: str, *, reached: int) -> Fault:
    return Fault(
        f"html500:{backend}",
        (f"mailcow could not serve {{endpoint}}: its connection to {BACKENDS[backend]} failed (HTTP 500).",),
        reached,
    )


# --- reads ---------------------------------------------------------------------------------------

READS = {
    "queue": ("get/mailq", "get/mailq/all"),
    "mailbox show alice@example.org": ("get/mailbox/", "get/mailbox/{x}"),
}
"""Command → (the path prefix its first read fails on, the endpoint as the bot names it)."""

READ_FAULTS = [
    Fault("timeout", (f"mailcow did not answer {{endpoint}} within {TIMEOUT:g} s.",), reached=1),
    Fault(REFUSED, ("Could not connect to mailcow at 127.0.0.1: Connection refused.",), reached=0),
    *(server_error(backend, reached=3) for backend in BACKENDS),  # one try and two retries
    Fault("empty", ("mailcow answered {endpoint} with an empty body.", "X-API-Key header never reached"), 1),
]


@pytest.mark.parametrize("typed", list(READS))
@pytest.mark.parametrize("fault", READ_FAULTS, ids=str)
def test_a_read_that_mailcow_fails_says_what_went_wrong_in_the_channel(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    *,
    gate: Gate,
    typed: str,
    fault: Fault,
) -> None:
    prefix, endpoint = READS[typed]
    fault.inject(fake_mailcow, gate, prefix, times=3)
    words = fault.words(endpoint)
    reply = reply_to(slack, fake_slack, typed, thread_messages=0, until=words[0])
    assert reply.headline.startswith(":x: mailcow ")
    for text in words:
        assert text in reply.text
    assert "ref `" in reply.text
    assert len(fake_mailcow.calls(prefix)) == fault.reached
    assert "<center" not in fake_slack.all_text()
    assert fake_mailcow.writes() == []


@pytest.mark.parametrize("settings_overrides", [{"MAILCOW_API_KEY": WRONG_KEY}], indirect=True)
def test_a_wrong_key_costs_one_attempt_per_command_and_says_what_to_check(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    [held] = fake_mailcow.add_queue_items(1, queue_name="hold", seed=21)
    typed = ["queue", "mailbox show alice@example.org", "queue flush", f"queue release {held}"]
    for count, text in enumerate(typed, start=1):
        reply = reply_to(slack, fake_slack, text, thread_messages=0, until=CHECK_KEY[0])
        assert reply.headline == ":x: mailcow refused the bot's API key."
        assert all(words in reply.text for words in CHECK_KEY)
        assert (len(fake_mailcow.requests), fake_mailcow.failed_logins) == (count, count)
    assert fake_mailcow.writes() == []


# --- writes --------------------------------------------------------------------------------------

WRITE_FAULTS = [
    Fault(
        "timeout",
        (f"mailcow did not answer {{endpoint}} within {TIMEOUT:g} s.", UNKNOWN_OUTCOME),
        reached=1,
        unknown=True,
    ),
    Fault(REFUSED, ("Could not connect to mailcow at 127.0.0.1: Connection refused.",), reached=0),
    *(server_error(backend, reached=1) for backend in BACKENDS),
    Fault(
        "empty",
        ("mailcow answered {endpoint} with an empty body: it failed part-way.", UNKNOWN_OUTCOME),
        reached=1,
        unknown=True,
    ),
    Fault(
        "danger:unknown",
        ("mailcow refused {endpoint} for {target}: the docker API gave no usable answer.",),
        reached=1,
    ),
    Fault("401", ("mailcow refused the API key (authentication failed).", *CHECK_KEY), reached=1),
    Fault(
        "403",
        (
            "mailcow refused {endpoint} (API read/write access denied): the API key is read-only; "
            "a read-write key is needed for changes (MAILCOW_API_KEY).",
        ),
        reached=1,
    ),
]


def assert_one_attempt_at_most(fake_mailcow: FakeMailcow, fault: Fault, words: list[str], said: str) -> None:
    """Said in full, never retried, and unknown outcomes (only those) flagged as unknown."""
    for text in words:
        assert text in said, said
    assert (UNKNOWN_OUTCOME in said) == fault.unknown
    assert len(fake_mailcow.calls("edit/mailq")) == fault.reached
    assert fake_mailcow.failed_logins == (1 if fault.mode == "401" else 0)


@pytest.mark.parametrize("fault", WRITE_FAULTS, ids=str)
def test_an_approved_flush_that_mailcow_fails_ends_failed_with_its_answer_and_can_be_asked_again(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    *,
    gate: Gate,
    services: Services,
    ask: Ask,
    fault: Fault,
) -> None:
    request = ask("queue flush")
    fault.inject(fake_mailcow, gate, "edit/mailq")
    slack.click(APPROVE, request.id, user=APPROVER)

    words = fault.words("edit/mailq", "the whole mail queue")
    text = wait_shown(fake_slack, request.ts, "*Failed:*")
    assert_one_attempt_at_most(fake_mailcow, fault, words, text)
    assert f"*Outcome:* {words[0]}" in text
    assert "Nothing was retried. Ask again to run it again." in text
    details = wait_thread(fake_slack, request.ts, "Failed: Flush the mail queue")
    assert "*mailcow's answer to `POST /api/v1/edit/mailq`*" in details
    assert all(text in details for text in words)
    assert approval_state(services, request.id) == State.FAILED
    assert services.store is not None
    assert audit_events(services.store, request.id) == ["request", "approval", "start", "failure"]
    assert words[0] in failures(services)[0]

    gate.refused = ()
    if fault.mode == "timeout":  # mailcow went on with the flush the bot stopped waiting for
        fake_slack.wait_for(lambda _: fake_mailcow.flushes == 1)
    again = ask("queue flush")
    assert again.id != request.id
    slack.click(APPROVE, again.id, user=APPROVER_2)
    wait_shown(fake_slack, again.ts, "*Done:*")
    assert len(fake_mailcow.calls("edit/mailq")) == fault.reached + 1


@pytest.mark.parametrize("fault", WRITE_FAULTS, ids=str)
def test_an_operators_release_that_mailcow_fails_says_so_and_is_not_retried(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    *,
    gate: Gate,
    services: Services,
    fault: Fault,
) -> None:
    [held] = fake_mailcow.add_queue_items(1, queue_name="hold", seed=22)
    fault.inject(fake_mailcow, gate, "edit/mailq")

    words = fault.words("edit/mailq", held)
    reply = reply_to(slack, fake_slack, f"queue release {held}", thread_messages=0, until=words[0])
    assert reply.headline == f":x: Failed: Release 1 message ({held}) from hold"
    assert_one_attempt_at_most(fake_mailcow, fault, words, reply.text)
    assert "Nothing was retried. Check mailcow, then ask again to run it again." in reply.text
    assert words[0] in failures(services)[0]


@pytest.mark.usefixtures("test_verbs")
def test_a_mixed_answer_says_what_mailcow_did_and_what_it_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services
) -> None:
    reply = reply_to(
        slack,
        fake_slack,
        "faults purge dave@example.net nobody@example.net",
        thread_messages=0,
        until="mailcow did only part",
    )
    assert reply.headline == ":x: Failed: Delete the mailboxes dave@example.net, nobody@example.net"
    said = (
        "mailcow did only part of delete/mailbox for dave@example.net, nobody@example.net. "
        "Done: mailbox dave@example.net removed. Refused: "
    )
    assert said in reply.text
    assert "dave@example.net" not in fake_mailcow.mailboxes
    assert len(fake_mailcow.calls("delete/mailbox")) == 1
    assert said in failures(services)[0]


@pytest.mark.parametrize("settings_overrides", [{"MAILCOW_API_KEY": RO_KEY}], indirect=True)
def test_a_read_only_key_reads_and_every_write_says_the_key_is_read_only(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, ask: Ask
) -> None:
    read_only = "the API key is read-only; a read-write key is needed for changes (MAILCOW_API_KEY)."
    assert reply_to(slack, fake_slack, "queue", thread_messages=0, until="Mail queue:").headline.startswith(
        "Mail queue:"
    )
    [held] = fake_mailcow.add_queue_items(1, queue_name="hold", seed=23)
    assert (
        read_only
        in reply_to(slack, fake_slack, f"queue release {held}", thread_messages=0, until=read_only).text
    )

    request = ask("queue flush")
    slack.click(APPROVE, request.id, user=APPROVER)
    assert read_only in wait_shown(fake_slack, request.ts, "*Failed:*")
    assert len(fake_mailcow.calls("edit/mailq")) == 2
    assert fake_mailcow.flushes == 0 and fake_mailcow.queue.rows[held]["queue_name"] == "hold"
