"""The command line as an operator meets it: start-up errors, `check` from .env, `serve` end to end.

What `check` reports is tested in tests/test_check.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.processes import env_for, free_port, run_cli
from tests.fakes.reading import parents
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, BOT_TOKEN, SIGNING_SECRET, SlackDriver, http_transport


def test_missing_settings_stop_with_one_line_naming_them(tmp_path: Path) -> None:
    result = run_cli(["serve"], {"PATH": os.environ["PATH"]}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for variable in ("SLACK_BOT_TOKEN", "MAILCOW_URL", "MAILCOW_API_KEY", "CHATOPS_ALLOWED_CHANNELS"):
        assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_setting_names_the_variable(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    env = env_for(fake_slack, fake_mailcow, tmp_path, CHATOPS_ALLOWED_CHANNELS="#ops", MAILCOW_TIMEOUT="soon")
    result = run_cli(["check"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "CHATOPS_ALLOWED_CHANNELS #ops is not a channel ID" in result.stderr
    assert "MAILCOW_TIMEOUT" in result.stderr


def test_serve_needs_the_signing_secret(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    env = env_for(fake_slack, fake_mailcow, tmp_path)
    del env["SLACK_SIGNING_SECRET"]
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr


def test_settings_come_from_dotenv_in_the_working_directory(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    env = env_for(fake_slack, fake_mailcow, tmp_path)
    dotenv = "\n".join(f"{k}={v}" for k, v in env.items() if k != "PATH")
    (tmp_path / ".env").write_text(dotenv)
    result = run_cli(["check"], {"PATH": os.environ["PATH"]}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def served(fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = env_for(fake_slack, fake_mailcow, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"serve did not start: {process.stdout.read() if process.stdout else ''}")
        time.sleep(0.05)
    yield url, process
    process.terminate()
    process.wait(timeout=10)


def test_serve_acks_a_signed_queue_command_and_posts_the_summary(
    served: tuple[str, subprocess.Popen[str]], fake_slack: FakeSlack
) -> None:
    url, _ = served
    driver = SlackDriver(http_transport(f"{url}/slack/events"), fake_slack)
    started = time.perf_counter()
    answer = driver.command("queue")
    ack_seconds = time.perf_counter() - started
    assert answer.status == 200
    assert ack_seconds < 3.0
    parent = fake_slack.wait_for(lambda s: s.posts(ALLOWED) and s.posts(ALLOWED)[0])
    assert parent.args["text"].startswith("Mail queue:")
    fake_slack.wait_for(lambda s: s.thread(parents(s)[0]))


def test_serve_logs_json_lines_without_secrets(
    served: tuple[str, subprocess.Popen[str]], fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    url, process = served
    driver = SlackDriver(http_transport(f"{url}/slack/events"), fake_slack)
    driver.command("queue")
    fake_slack.wait_for(lambda s: s.posts(ALLOWED))
    time.sleep(0.3)
    process.terminate()
    output = process.stdout.read() if process.stdout else ""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert any('"msg": "command queue.show' in line for line in lines), output
    for secret in (BOT_TOKEN, SIGNING_SECRET, fake_mailcow.api_key):
        assert secret not in output


@pytest.mark.parametrize("url", ["mysql://root@localhost/db", "sqlite://relative.db", "not a url"])
def test_malformed_database_url_is_one_line(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path, url: str
) -> None:
    env = env_for(fake_slack, fake_mailcow, tmp_path, CHATOPS_DATABASE_URL=url)
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "CHATOPS_DATABASE_URL must be" in result.stderr
