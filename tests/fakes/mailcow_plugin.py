"""pytest fixtures for the mailcow stand-in (listed in tests/conftest.py `pytest_plugins`).

- `fake_mailcow`: a running `FakeMailcow` seeded with `seed_demo()` (2 domains, 5 mailboxes, 3 aliases,
  6 queue items, one active ban of 203.0.113.7/32, netfilter/postfix/dovecot log lines).
- `mailcow_client`: a `MailcowClient` pointed at it, with a tiny backoff and a short timeout so fault
  tests stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.mailcow import MailcowClient
from tests.fakes.mailcow import FakeMailcow


@pytest.fixture
def fake_mailcow() -> Iterator[FakeMailcow]:
    fake = FakeMailcow()
    fake.seed_demo()
    with fake:
        yield fake


@pytest.fixture
def mailcow_client(fake_mailcow: FakeMailcow) -> Iterator[MailcowClient]:
    client = MailcowClient(fake_mailcow.url, SecretStr(fake_mailcow.api_key), timeout=2.0, backoff=0.01)
    try:
        yield client
    finally:
        client.close()
