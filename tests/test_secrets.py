"""A password the bot sets reaches the person who asked, once, and nothing else.

For every way a password is set (the create form with a generated or a typed password, the typed
`mailbox create`, the reset form with a generated or a typed password, each reset through an
approval) this scans everything the bot said or kept: every recorded Web API call, every
response_url post, the answers to the form submissions, the audit rows, the approvals table, and
the log output captured at DEBUG (where Bolt and slack_sdk log request bodies). A generated password
is found in exactly one place, the message to the requester; a typed one nowhere.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.services import Services
from tests.fakes import manual_app
from tests.fakes.forms import fill, opened
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, buttons, parents, wait_shown
from tests.fakes.slack import FakeSlack, SlackCall
from tests.fakes.slack_plugin import ALLOWED, APPROVER, OPERATOR, SlackDriver

# The app with an injected clock and no background thread.
services, bolt_app = manual_app.services, manual_app.bolt_app

TYPED = "Typed-By-Hand-2024"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"CHATOPS_SECRET_KEY": Fernet.generate_key().decode(), "CHATOPS_LOG_LEVEL": "DEBUG"}


@dataclass
class Run:
    """What one way of setting a password left behind."""

    password: str
    answers: list[str] = field(default_factory=list)
    """The HTTP answers to the payloads (form submissions are answered inline)."""


@dataclass
class Stage:
    slack: SlackDriver
    fake_slack: FakeSlack
    fake_mailcow: FakeMailcow


@pytest.fixture
def stage(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> Stage:
    return Stage(slack, fake_slack, fake_mailcow)


Flow = Callable[[SlackDriver, FakeSlack, FakeMailcow], Run]


def _submit(slack: SlackDriver, view: dict[str, Any], **typed: Any) -> str:
    reply = slack.submit(fill(view, **typed))
    assert reply.text == "", reply.text
    return reply.text


def _approved(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    ts = fake_slack.wait_for(lambda s: parents(s) and parents(s)[-1])
    slack.click(
        "approval_approve", buttons(fake_slack.messages[ts])["approval_approve"]["value"], user=APPROVER
    )
    wait_shown(fake_slack, ts, "*Done:*")
    fake_slack.wait_for(lambda s: [m for m in s.messages.values() if m["thread_ts"] == ts])


def create_form_generated(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> Run:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    weak = slack.submit(fill(view, domain="example.org", local_part="jane", password="weakling")).text
    answers = [weak, _submit(slack, view, domain="example.org", local_part="jane")]
    answer(fake_slack, "Read back from mailcow")
    fake_slack.wait_for(lambda s: s.calls_to("chat.postEphemeral"))
    return Run(fake_mailcow.calls("add/mailbox")[0].json_body["password"], answers)


def create_form_typed(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> Run:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    answers = [_submit(slack, view, domain="example.org", local_part="jane", password=TYPED)]
    answer(fake_slack, "Read back from mailcow")
    assert fake_mailcow.calls("add/mailbox")[0].json_body["password"] == TYPED
    return Run(TYPED, answers)


def create_command(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> Run:
    slack.command("mailbox create jane@example.org")
    answer(fake_slack, "Read back from mailcow")
    fake_slack.wait_for(lambda s: s.calls_to("response_url"))
    return Run(fake_mailcow.calls("add/mailbox")[0].json_body["password"])


def reset_generated(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> Run:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    answers = [_submit(slack, view)]
    _approved(slack, fake_slack)
    fake_slack.wait_for(lambda s: s.calls_to("conversations.open"))
    return Run(fake_mailcow.calls("edit/mailbox")[0].json_body["attr"]["password"], answers)


def reset_typed(slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow) -> Run:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    answers = [_submit(slack, view, password=TYPED)]
    _approved(slack, fake_slack)
    assert fake_mailcow.calls("edit/mailbox")[0].json_body["attr"]["password"] == TYPED
    return Run(TYPED, answers)


def to_the_requester(call: SlackCall) -> bool:
    """A message only the requester sees: ephemeral to them, or in their direct-message channel."""
    if call.method == "response_url":
        return call.args.get("response_type") == "ephemeral"
    if call.method == "chat.postEphemeral":
        return call.args.get("user") == OPERATOR and call.args.get("channel") == ALLOWED
    return call.method == "chat.postMessage" and call.args.get("channel") == f"D{OPERATOR.lstrip('U')}"


@pytest.mark.parametrize(
    "case",
    [
        (create_form_generated, 1),
        (create_form_typed, 0),
        (create_command, 1),
        (reset_generated, 1),
        (reset_typed, 0),
    ],
    ids=lambda case: case[0].__name__,
)
def test_a_password_is_found_only_in_the_one_message_to_the_requester(
    stage: Stage, services: Services, captured: io.StringIO, case: tuple[Flow, int]
) -> None:
    flow, shown = case
    fake_slack = stage.fake_slack
    run = flow(stage.slack, fake_slack, stage.fake_mailcow)
    assert len(run.password) >= 16

    holding = [call for call in fake_slack.calls if run.password in call.text_content()]
    assert len(holding) == shown, [c.method for c in holding]
    assert all(to_the_requester(call) for call in holding)
    assert len([c for c in fake_slack.calls if to_the_requester(c) and c.method != "response_url"]) <= 1

    assert all(run.password not in text for text in run.answers)
    store = services.store
    assert store is not None
    audit = json.dumps([entry.__dict__ for entry in store.audit_entries(1000)], default=str)
    assert run.password not in audit
    with store.engine.connect() as conn:
        approvals = json.dumps([list(row) for row in conn.execute(sa.text("SELECT * FROM approvals"))])
    assert run.password not in approvals
    services.executor.shutdown(wait=True)  # every background line (audit, lazy work) is written by now
    logged = captured.getvalue()
    assert logged and run.password not in logged
    assert "weakling" not in logged
