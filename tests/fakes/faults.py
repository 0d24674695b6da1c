"""The app as the fault tests run it: as in `manual_app` (time moved by hand, no background thread),
with two changes for faults. Every mailcow call gives up after `TIMEOUT` seconds (docker-backed writes
too, which wait 75 s in production), and its HTTP transport is a `Gate` that can refuse connections.

A fault test module binds `settings_overrides`, `services` and `gate` from here, `bolt_app` from
`manual_app`, and `test_verbs` when it needs plans no real verb builds (`clock` and `ask` are the
shared fixtures):

    settings_overrides, services, bolt_app = faults.settings_overrides, faults.services, manual_app.bolt_app
    gate, test_verbs = faults.gate, faults.test_verbs
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.app import build_services
from bot.args import queue_id
from bot.mailcow import MailcowClient, calls
from bot.mailcow import client as mailcow_client
from bot.plans import Plan, StateRef
from bot.roles import Role
from bot.services import Services
from bot.settings import Settings
from commands import REGISTRY, Call, command
from tests.fakes.db_plugin import FakeClock
from tests.fakes.slack_plugin import shut_down

TIMEOUT = 0.5
"""MAILCOW_TIMEOUT for the fault tests: what a stalled mailcow call costs."""


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A short MAILCOW_TIMEOUT; an indirect parameter (a dict) adds settings of its own."""
    return {"MAILCOW_TIMEOUT": TIMEOUT, **getattr(request, "param", {})}


class Gate(httpx.HTTPTransport):
    """The bot's HTTP transport to mailcow, except that calls whose path (after /api/v1/) starts with
    one of `refused` go to a port nothing listens on: a real "connection refused", switched mid-test."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: tuple[str, ...] = ()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.closed_port = int(probe.getsockname()[1])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.removeprefix("/api/v1/").startswith(self.refused):
            request.url = request.url.copy_with(port=self.closed_port)
        return super().handle_request(request)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def services(
    settings: Settings, clock: FakeClock, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    # Queue actions wait up to 75 s for dockerapi in production; here they time out like any call,
    # and retries (of reads, and of writes that could not connect) back off for 10 ms, not 250.
    monkeypatch.setattr(mailcow_client, "SLOW_READ_TIMEOUT", 0.0)
    client = MailcowClient(
        settings.mailcow_url,
        settings.mailcow_api_key,
        timeout=settings.mailcow_timeout,
        verify_tls=settings.mailcow_verify_tls,
        cache_ttl=settings.cache_ttl,
        transport=gate,
        backoff=0.01,
    )
    built = build_services(settings, mailcow=client, clock=clock)
    yield built
    shut_down(built)


def failures(services: Services) -> list[str]:
    """Details of the audit trail's `failure` entries, newest first."""
    assert services.store is not None
    return [e.detail for e in services.store.audit_entries(100) if e.event == "failure"]


# --- plans no real verb builds yet ---------------------------------------------------------------


def hold_then_delete(call: Call) -> Plan:
    """Two calls on the queue: hold the first message, then delete the second."""
    held, deleted = (queue_id(token) for token in (call.args.take("HELD"), call.args.take("DELETED")))
    call.args.done()
    return Plan.of(
        call,
        summary=f"Hold {held}, then delete {deleted}",
        target="queue",
        calls=[calls.edit_mailq("hold", [held]), calls.delete_mailq([deleted])],
        state=StateRef(reader="queue", key=f"{held},{deleted}"),
    )


def purge_mailboxes(call: Call) -> Plan:
    """One call whose answer can be mixed: mailcow deletes the mailboxes it can and refuses the rest."""
    addresses = call.args.rest()
    call.args.done()
    return Plan.of(
        call,
        summary=f"Delete the mailboxes {', '.join(addresses)}",
        target=f"mailbox:{','.join(addresses)}",
        calls=[calls.delete_mailboxes(addresses)],
    )


@pytest.fixture
def test_verbs() -> Iterator[None]:
    """`/mailcow faults twostep HELD DELETED` (destructive) and `/mailcow faults purge ADDR…` (an
    operator's write that runs at once), registered for one test only."""
    command(
        "faults",
        "twostep",
        usage="faults twostep HELD DELETED",
        summary="hold one queued message, then delete another",
        example="faults twostep 3F2A1B9C0D 4E5F6A7B8C",
        destructive=True,
    )(hold_then_delete)
    command(
        "faults",
        "purge",
        usage="faults purge ADDRESS…",
        summary="delete mailboxes",
        example="faults purge jane@example.org",
        role=Role.OPERATOR,
    )(purge_mailboxes)
    try:
        yield
    finally:
        REGISTRY.by_area.pop("faults")
