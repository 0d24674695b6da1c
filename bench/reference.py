"""The two reference servers every ack figure is compared against, each run in its own process.

- `bare`: a Bolt app that only acks, in Bolt's default style: sync `App` (no
  `process_before_response`, so Bolt polls for the ack every 10 ms), its Starlette adapter's
  request/response conversion, and `dispatch` in a worker thread. What a team starting from Bolt's
  docs would ship.
- `raw`: a bare ASGI callable that verifies the Slack signature and answers 200: the floor for Python
  on this machine, with no framework at all.

Both run under the same uvicorn settings as `bot.server.serve`, so only the app differs.

    python -m bench.reference bare --port 3101 --slack-api-url http://127.0.0.1:3100/api/
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
import uvicorn
from slack_bolt import Ack, App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.slack_plugin import BOT_TOKEN, SIGNING_SECRET

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UVICORN_SETTINGS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "proxy_headers": True,
    "timeout_keep_alive": 30,
}
"""The keyword arguments `bot.server.serve` passes to `uvicorn.run`; keep the two in step."""

MAX_SKEW = 300  # Slack's (and Bolt's) replay window, in seconds


def bare_bolt(slack_api_url: str) -> Starlette:
    """Acks every command, click and options request and does nothing else.

    Like any Bolt app it checks its token with `auth.test` at start-up, here against the Slack
    stand-in at `slack_api_url`.
    """
    app = App(client=WebClient(token=BOT_TOKEN, base_url=slack_api_url), signing_secret=SIGNING_SECRET)

    def acknowledge(ack: Ack) -> None:
        ack()

    everything = re.compile(".*")
    app.command(everything)(acknowledge)
    app.action(everything)(acknowledge)
    app.options(everything)(acknowledge)

    async def events(request: Request) -> Response:
        bolt_request = to_bolt_request(request, await request.body())
        return to_starlette_response(await anyio.to_thread.run_sync(app.dispatch, bolt_request))

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def signature_ok(body: bytes, timestamp: bytes, signature: bytes, secret: bytes) -> bool:
    """Slack's v0 request signature, checked the way Slack documents it."""
    try:
        if abs(time.time() - int(timestamp)) > MAX_SKEW:
            return False
    except ValueError:
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature)


async def raw_floor(scope: Scope, receive: Receive, send: Send) -> None:
    """Verify the signature, answer 200 with an empty body (401 when the signature is wrong)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    headers = dict(scope["headers"])
    valid = signature_ok(
        b"".join(chunks),
        headers.get(b"x-slack-request-timestamp", b""),
        headers.get(b"x-slack-signature", b""),
        SIGNING_SECRET.encode(),
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200 if valid else 401,
            "headers": [(b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("bare", "raw"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-api-url", default="https://slack.com/api/", help="for bare Bolt's auth.test")
    options = parser.parse_args()
    app = bare_bolt(options.slack_api_url) if options.kind == "bare" else raw_floor
    uvicorn.run(app, host=options.host, port=options.port, **UVICORN_SETTINGS)


if __name__ == "__main__":
    main()
