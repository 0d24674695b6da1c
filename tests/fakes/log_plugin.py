"""pytest fixture for the app's log output (listed in tests/conftest.py `pytest_plugins`).

- `captured`: what the handler `bot.logs.configure` installs writes, as JSON lines at DEBUG (so Bolt,
  slack_sdk and the mailcow client log all they do, request bodies included); the logging setup is
  put back afterwards.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("DEBUG", "json", stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
    root.setLevel(saved[1])
