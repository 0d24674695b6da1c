"""The `mailcow-chatops` command line: serve (HTTP), socket (Socket Mode), check, shell.

A bad or missing setting stops start-up with one line naming the variable (exit 2), never a
traceback; so does a token Slack refuses, or a port that is taken.

Socket Mode needs no public URL, but containers and Kubernetes still need something to probe and
Prometheus something to scrape: `socket` also serves `GET /healthz` (200 while connected to Slack)
and `GET /metrics` on `--host`/`--port`, and nothing else.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import logs, metrics
from bot.services import Services
from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mailcow-chatops", description="Run mailcow from Slack.")
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz, GET /metrics")
    socket_mode = sub.add_parser(
        "socket", help="Socket Mode (needs SLACK_APP_TOKEN); no public URL; GET /healthz and /metrics"
    )
    for mode in (serve, socket_mode):
        mode.add_argument("--host", default="127.0.0.1")
        mode.add_argument("--port", type=int, default=3000)
    sub.add_parser("check", help="check settings, mailcow, Slack and the database; exit 0 or 1")
    shell = sub.add_parser("shell", help="type commands in a terminal and see what the bot would post")
    shell.add_argument("--as", dest="user", metavar="USER", help="act as this Slack user ID (U…)")
    shell.add_argument("--channel", metavar="CHANNEL", help="an allowed channel ID; default: the first")
    options = parser.parse_args(argv)

    try:
        settings = load_settings()
        if options.mode == "serve" and settings.slack_signing_secret is None:
            raise SettingsError("bad settings: SLACK_SIGNING_SECRET is not set (HTTP mode needs it)")
        if options.mode == "socket" and settings.slack_app_token is None:
            raise SettingsError("bad settings: SLACK_APP_TOKEN is not set (Socket Mode needs it)")
    except SettingsError as error:
        print(f"mailcow-chatops: {error}", file=sys.stderr)
        return 2
    logs.register_settings_secrets(settings)
    if options.mode == "shell":
        # The terminal is for the answers; log lines only for trouble, unless asked for debugging.
        logs.configure("DEBUG" if settings.log_level == "DEBUG" else "WARNING", settings.log_format)
        from bot.console import run_shell

        return run_shell(settings, options.user, options.channel, sys.stdin, sys.stdout)
    logs.configure(settings.log_level, settings.log_format)

    if options.mode == "check":
        from bot.check import run_checks

        return run_checks(settings)
    return _run(options, settings)


def _run(options: argparse.Namespace, settings: Settings) -> int:
    from bot.app import build_app, build_services

    probes = None
    if options.mode == "socket":
        # Taken before anything else starts, so a busy port is one line, not a half-started bot.
        family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
        try:
            probes = socket.create_server((options.host, options.port), family=family)
        except OSError as error:
            print(
                f"mailcow-chatops: cannot listen on {options.host}:{options.port}: {error}", file=sys.stderr
            )
            return 2
    # `serve` runs the lazy work and the scheduler in CHATOPS_WORKERS worker processes
    # (bot/workers.py). Socket Mode keeps them on threads: no HTTP ack latency to win (the socket
    # client acks from its own thread, and Slack allows 3 s), its deployments are capped at 1 CPU and
    # 384 MB, where a worker costs ~90 MB and adds no parallelism, and its requests are not signed
    # bodies that could be handed on as they are.
    workers = settings.workers if probes is None else 0
    services = build_services(settings)
    try:
        app = build_app(services, background=workers == 0)
    except BoltError as error:
        print(f"mailcow-chatops: Slack refused SLACK_BOT_TOKEN: {error}", file=sys.stderr)
        return 2
    if probes is None:
        from bot.server import serve
        from bot.workers import WorkerPool, hand_off

        pool = WorkerPool(settings, workers) if workers else None
        if pool is not None:
            hand_off(app, pool, services.executor)
        serve(app, services, options.host, options.port, pool)
        return 0
    return _run_socket(app, services, settings, probes)


def _run_socket(app: App, services: Services, settings: Settings, probes: socket.socket) -> int:
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    handler = TimedSocketModeHandler(app, app_token)
    serve_probes(probes, services, connected=handler.client.is_connected)
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except SlackApiError as error:
        problem = f"Slack refused SLACK_APP_TOKEN: {error.response.get('error')}"
        print(f"mailcow-chatops: {problem}", file=sys.stderr)
        return 2
    except (SlackClientError, OSError) as error:
        print(f"mailcow-chatops: cannot open a Socket Mode connection: {error}", file=sys.stderr)
        return 2
    metrics.READY.set(1)
    log.info("connected to Slack in Socket Mode; probes on %s", probes.getsockname()[:2])
    threading.Event().wait()  # the client's own threads take the events and reconnect
    return 0


class TimedSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, recording ack latency as the HTTP server does."""

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started = time.perf_counter()
        try:
            super().handle(client, req)
        finally:
            kind = metrics.payload_kind(req.payload or {})
            metrics.ACK_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


def serve_probes(sock: socket.socket, services: Services, *, connected: Callable[[], bool]) -> uvicorn.Server:
    """`GET /healthz` and `GET /metrics` on `sock`, from a background thread (Socket Mode only).

    Returns the server, whose `should_exit` stops it."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from bot.server import services_health

    async def healthz(_: Request) -> Response:
        ready, up = bool(metrics.READY._value.get()), connected()
        status = "ok" if ready and up else "starting" if not ready else "disconnected from Slack"
        body = {"status": status, "ready": ready and up, "mode": "socket", **services_health(services)}
        return JSONResponse(body, status_code=200 if ready and up else 503)

    async def prometheus(_: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    probes = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), Route("/metrics", prometheus, methods=["GET"])]
    )
    config = uvicorn.Config(probes, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="probes", daemon=True).start()
    return server


if __name__ == "__main__":
    sys.exit(main())
