"""/metrics: every series the issue lists is recorded where it happens, with labels from closed sets.

And Socket Mode: it times its acks too, serves /healthz and /metrics on its probe port, and stops
with one line when that port is taken or Slack refuses its token."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_bolt import App
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import metrics
from bot.__main__ import TimedSocketModeHandler, serve_probes
from bot.services import Services
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.processes import env_for, run_cli
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, OPERATOR, RunningServer, SlackDriver


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_command_over_http_records_every_series(http_slack: SlackDriver, fake_slack: FakeSlack) -> None:
    before = {
        "commands": sample("chatops_commands_total", area="queue", verb="show", outcome="ok"),
        "ack": sample("chatops_ack_seconds_count", kind="command"),
        "mailcow": sample("chatops_mailcow_request_seconds_count", endpoint="get/mailq/all"),
        "miss": sample("chatops_cache_total", cache="queue", result="miss"),
        "pending": sample("chatops_approvals_total", state="pending"),
        "unknown": sample("chatops_commands_total", area="unknown", verb="unknown", outcome="unknown"),
    }
    http_slack.command("queue")
    fake_slack.wait_for(lambda s: len(s.posts(ALLOWED)) >= 2)
    http_slack.command("queue flush", user=OPERATOR)
    http_slack.command("no-such-area at all")
    fake_slack.wait_for(lambda s: len(s.posts(ALLOWED)) >= 4 and s.calls_to("response_url"))
    time.sleep(0.1)
    assert sample("chatops_commands_total", area="queue", verb="show", outcome="ok") == before["commands"] + 1
    assert sample("chatops_ack_seconds_count", kind="command") == before["ack"] + 3
    assert sample("chatops_mailcow_request_seconds_count", endpoint="get/mailq/all") > before["mailcow"]
    assert sample("chatops_cache_total", cache="queue", result="miss") > before["miss"]
    assert sample("chatops_approvals_total", state="pending") == before["pending"] + 1
    assert (
        sample("chatops_commands_total", area="unknown", verb="unknown", outcome="unknown")
        == before["unknown"] + 1
    )


def test_metrics_endpoint_lists_every_series(
    http_server: RunningServer, http_slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    http_slack.command("queue")
    fake_slack.wait_for(lambda s: s.posts(ALLOWED))
    answer = httpx.get(f"{http_server.url}/metrics")
    assert answer.status_code == 200
    for series in (
        "chatops_commands_total",
        "chatops_ack_seconds",
        "chatops_mailcow_request_seconds",
        "chatops_mailcow_errors_total",
        "chatops_approvals_total",
        "chatops_cache_total",
        "chatops_refusals_total",
        "chatops_ready",
    ):
        assert f"# HELP {series} " in answer.text


def test_payload_kinds_come_from_a_closed_set() -> None:
    assert metrics.payload_kind({"command": "/mailcow", "text": "queue"}) == "command"
    assert metrics.payload_kind({"type": "block_actions"}) == "block_actions"
    for junk in ("x" * 30, "../../etc", "", None, 7):
        assert metrics.payload_kind({"type": junk}) == "other"


def test_unsigned_junk_does_not_add_series(http_slack: SlackDriver) -> None:
    kinds_before = ack_kinds()
    for n in range(5):
        http_slack.transport(f'{{"type": "junk-{n}"}}', {"content-type": "application/json"})
    assert ack_kinds() - kinds_before <= {"other"}


def ack_kinds() -> set[str]:
    return {s.labels["kind"] for family in metrics.ACK_SECONDS.collect() for s in family.samples}


class RecordingSocketClient:
    """Just what Bolt's Socket Mode adapter calls on the client to send an ack."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.responses: list[SocketModeResponse] = []

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.responses.append(response)


def test_socket_mode_acks_are_timed(bolt_app: App, fake_slack: FakeSlack) -> None:
    handler = TimedSocketModeHandler(bolt_app, "xapp-1-test")
    client = RecordingSocketClient(bolt_app.logger)
    before = sample("chatops_ack_seconds_count", kind="command")
    payload = {"command": "/mailcow", "text": "queue", "user_id": OPERATOR, "channel_id": ALLOWED}
    request = SocketModeRequest(type="slash_commands", envelope_id="e1", payload=payload)
    handler.handle(client, request)  # type: ignore[arg-type]
    assert [r.envelope_id for r in client.responses] == ["e1"]
    assert sample("chatops_ack_seconds_count", kind="command") == before + 1
    fake_slack.wait_for(lambda s: s.posts(ALLOWED))


@pytest.fixture
def probes(services: Services) -> Iterator[tuple[str, list[bool]]]:
    connected = [False]
    sock = socket.create_server(("127.0.0.1", 0))
    server = serve_probes(sock, services, connected=lambda: connected[0])
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    ready = metrics.READY._value.get()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", connected
    metrics.READY.set(ready)
    server.should_exit = True


def test_socket_mode_health_follows_the_connection_to_slack(probes: tuple[str, list[bool]]) -> None:
    url, connected = probes
    metrics.READY.set(1)
    down = httpx.get(f"{url}/healthz")
    assert down.status_code == 503
    assert down.json()["status"] == "disconnected from Slack"
    connected[0] = True
    up = httpx.get(f"{url}/healthz")
    assert up.status_code == 200
    assert up.json() | {"mode": "socket", "ready": True} == up.json()
    assert "chatops_commands_total" in httpx.get(f"{url}/metrics").text
    assert httpx.post(f"{url}/slack/events", content=b"{}").status_code in (404, 405)


def test_socket_mode_stops_with_one_line_when_its_probe_port_is_taken(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = env_for(fake_slack, fake_mailcow, tmp_path, SLACK_APP_TOKEN="xapp-1-test")
        result = run_cli(["socket", "--port", str(port)], env, tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"mailcow-chatops: cannot listen on 127.0.0.1:{port}")
    )


def test_socket_mode_with_a_refused_app_token_stops_with_one_line(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as free:
        port = free.getsockname()[1]
    env = env_for(fake_slack, fake_mailcow, tmp_path, SLACK_APP_TOKEN="xapp-1-refused")
    result = run_cli(["socket", "--port", str(port)], env, tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == "mailcow-chatops: Slack refused SLACK_APP_TOKEN: invalid_auth"
    )
    assert "Traceback" not in result.stderr
    assert "xapp-1-refused" not in result.stderr
