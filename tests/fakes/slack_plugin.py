"""Fixtures that run the app the way Slack drives it.

`slack` sends signed payloads through `app.dispatch` with real `BoltRequest`s (fast, same code path
after the HTTP layer); `http_slack` sends them over HTTP to the app served by uvicorn, for what the
server itself must do. Both go through Bolt's signature check.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.app import build_app, build_services
from bot.server import create_asgi_app
from bot.services import Services
from bot.settings import Settings, load_settings
from tests.fakes.slack import FakeSlack

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
ALLOWED = "C0OPS"
ALLOWED_2 = "G0ONCALL"
ELSEWHERE = "C0RANDOM"
VIEWER = "U0VIEW"
OPERATOR = "U0OPER"
APPROVER = "U0APPR"
APPROVER_2 = "U0APPR2"
GROUP = "S0ONCALL"
GROUP_MEMBER = "U0GROUPIE"


@dataclass
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


Transport = Callable[[str, dict[str, str]], Answer]


class SlackDriver:
    """Builds the payloads Slack sends (slash command, clicks, submissions, options) and signs them."""

    def __init__(self, transport: Transport, fake: FakeSlack, command: str = "/mailcow") -> None:
        self.transport = transport
        self.fake = fake
        self.command_name = command
        self.verifier = SignatureVerifier(SIGNING_SECRET)
        self._n = 0

    def signed_headers(self, body: str, content_type: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": self.verifier.generate_signature(timestamp=ts, body=body) or "",
        }

    def post(self, body: str, content_type: str = "application/x-www-form-urlencoded", **kw: Any) -> Answer:
        return self.transport(body, self.signed_headers(body, content_type, **kw))

    def _next(self) -> str:
        self._n += 1
        return str(self._n)

    def command(self, text: str, *, user: str = OPERATOR, channel: str = ALLOWED) -> Answer:
        n = self._next()
        form = {
            "token": "legacy",
            "team_id": "T0TEAM",
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": self.command_name,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": self.fake.response_url(f"cmd{n}"),
            "trigger_id": f"trigger.{n}",
        }
        return self.post(urllib.parse.urlencode(form))

    def interactive(self, payload: dict[str, Any]) -> Answer:
        payload = {"team": {"id": "T0TEAM"}, "api_app_id": "A0APP", "token": "legacy", **payload}
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = OPERATOR,
        channel: str = ALLOWED,
        message_ts: str = "1700000001.000100",
        thread_ts: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> Answer:
        """A click on a button of the message at `message_ts` (a reply in `thread_ts`'s thread, if
        given), or of the open `view`."""
        n = self._next()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user},
            "trigger_id": f"trigger.{n}",
            "actions": [{"action_id": action_id, "value": value, "block_id": "b", "type": "button"}],
        }
        if view is not None:
            payload.update(view=view, container={"type": "view", "view_id": view.get("id", "V1")})
        else:
            payload.update(
                channel={"id": channel},
                container={"type": "message", "channel_id": channel, "message_ts": message_ts},
                message={"ts": message_ts, **({"thread_ts": thread_ts} if thread_ts else {})},
                response_url=self.fake.response_url(f"click{n}"),
            )
        return self.interactive(payload)

    def submit(self, view: dict[str, Any], *, user: str = OPERATOR) -> Answer:
        return self.interactive({"type": "view_submission", "user": {"id": user}, "view": view})

    def suggest(
        self,
        action_id: str,
        value: str,
        *,
        view: dict[str, Any] | None = None,
        user: str = OPERATOR,
        channel: str | None = None,
    ) -> Answer:
        payload: dict[str, Any] = {
            "type": "block_suggestion",
            "user": {"id": user},
            "action_id": action_id,
            "block_id": "b",
            "value": value,
        }
        if view is not None:
            payload["view"] = view
        if channel is not None:
            payload["channel"] = {"id": channel}
        return self.interactive(payload)

    def shortcut(self, callback_id: str, *, user: str = OPERATOR) -> Answer:
        return self.interactive(
            {
                "type": "shortcut",
                "callback_id": callback_id,
                "user": {"id": user},
                "trigger_id": f"trigger.{self._next()}",
            }
        )

    def event(self, event: dict[str, Any]) -> Answer:
        body = {
            "type": "event_callback",
            "team_id": "T0TEAM",
            "api_app_id": "A0APP",
            "event": event,
            "event_id": f"Ev{self._next()}",
            "event_time": int(time.time()),
        }
        return self.post(json.dumps(body), "application/json")


def dispatch_transport(app: App) -> Transport:
    def send(body: str, headers: dict[str, str]) -> Answer:
        response = app.dispatch(BoltRequest(body=body, headers=headers))
        return Answer(response.status, response.body)

    return send


def http_transport(url: str) -> Transport:
    client = httpx.Client(timeout=10)

    def send(body: str, headers: dict[str, str]) -> Answer:
        response = client.post(url, content=body.encode(), headers=headers)
        return Answer(response.status_code, response.text)

    return send


def make_settings(
    fake_slack: FakeSlack, mailcow_url: str, api_key: str, db_path: Path, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "MAILCOW_URL": mailcow_url,
        "MAILCOW_API_KEY": api_key,
        "MAILCOW_TIMEOUT": 2,
        "CHATOPS_ALLOWED_CHANNELS": f"{ALLOWED},{ALLOWED_2}",
        "CHATOPS_OPERATORS": f"{OPERATOR},{APPROVER},{APPROVER_2},{GROUP}",
        "CHATOPS_APPROVERS": f"{APPROVER},{APPROVER_2}",
        "CHATOPS_DATABASE_URL": f"sqlite:///{db_path}",
        "CHATOPS_LOG_FORMAT": "text",
        "_env_file": None,
    }
    values.update(extra)
    return load_settings(**values)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.usergroups[GROUP] = [GROUP_MEMBER]
    yield fake
    fake.stop()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for the app under test: override this in a test module, or parametrise it indirectly
    with a dict of settings, or with `"sqlite"`/`"postgres"` to pick the database."""
    wanted = getattr(request, "param", {})
    if isinstance(wanted, str):
        return {"CHATOPS_DATABASE_URL": request.getfixturevalue(f"{wanted}_url")}
    return dict(wanted)


@pytest.fixture
def settings(
    fake_slack: FakeSlack, fake_mailcow: Any, tmp_path: Path, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(
        fake_slack, fake_mailcow.url, fake_mailcow.api_key, tmp_path / "chatops.db", **settings_overrides
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    shut_down(built)


def shut_down(services: Services) -> None:
    """Stop what `build_services` started: the lazy-work executor, the mailcow client, the database."""
    services.executor.shutdown(wait=True)
    services.mailcow.close()
    if services.store is not None:
        services.store.dispose()


@pytest.fixture
def bolt_app(services: Services) -> App:
    return build_app(services)


@pytest.fixture
def slack(bolt_app: App, fake_slack: FakeSlack, settings: Settings) -> SlackDriver:
    return SlackDriver(dispatch_transport(bolt_app), fake_slack, settings.command)


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server


@pytest.fixture
def http_server(bolt_app: App, services: Services) -> Iterator[RunningServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_asgi_app(bolt_app, services), log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    yield RunningServer(f"http://127.0.0.1:{port}", server)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def http_slack(http_server: RunningServer, fake_slack: FakeSlack, settings: Settings) -> SlackDriver:
    return SlackDriver(http_transport(f"{http_server.url}/slack/events"), fake_slack, settings.command)
