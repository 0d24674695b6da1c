"""pytest fixture for approval requests (listed in tests/conftest.py `pytest_plugins`), and helpers.

- `ask`: `ask(text, user=…)` types `/mailcow text` and waits until its approval request is posted and
  knows its message; it returns the `Request` (the message's ts, the approval id its buttons carry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.approvals import State
from bot.approvals.blocks import APPROVE
from bot.services import Services
from bot.store import Store
from tests.fakes.reading import buttons, parents, shown, thread_text, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, OPERATOR, SlackDriver

DEFAULT_TTL = 900  # CHATOPS_APPROVAL_TTL


@dataclass
class Request:
    """A posted approval request: its message timestamp and the approval id its buttons carry."""

    ts: str
    id: str


Ask = Callable[..., Request]


@pytest.fixture
def ask(slack: SlackDriver, fake_slack: FakeSlack, services: Services) -> Ask:
    """`ask(text, user=…)` types `/mailcow text` and waits until its approval request is posted and
    the request knows its message (as it does long before anyone could click)."""

    def run(text: str, *, user: str = OPERATOR) -> Request:
        seen = len(parents(fake_slack))
        assert slack.command(text, user=user).text == ""
        ts = fake_slack.wait_for(lambda s: len(p := parents(s)) > seen and p[seen])
        request = Request(ts, buttons(fake_slack.messages[ts])[APPROVE]["value"])
        approvals = services.approvals
        assert approvals is not None
        fake_slack.wait_for(lambda _: (a := approvals.get(request.id)) is not None and a.message_ts == ts)
        return request

    return run


def approve(slack: SlackDriver, fake_slack: FakeSlack, ask: Ask, text: str) -> tuple[str, str, str]:
    """Request `text`, approve it as another person; (request as asked, message when done, thread)."""
    request = ask(text)
    asked = shown(fake_slack, request.ts)
    slack.click(APPROVE, request.id, user=APPROVER)
    done = wait_shown(fake_slack, request.ts, "*Done:*")
    fake_slack.wait_for(lambda s: s.thread(request.ts))
    return asked, done, thread_text(fake_slack, request.ts)


def approval_state(services: Services, approval_id: str) -> State:
    approvals = services.approvals
    assert approvals is not None
    approval = approvals.get(approval_id)
    assert approval is not None
    return approval.state


def audit_events(store: Store, approval_id: str) -> list[str]:
    """The audit trail's events about one request, oldest first."""
    return [e.event for e in reversed(store.audit_entries(1000)) if e.approval_id == approval_id]
