"""The `mailcow-chatops` command line: serve (HTTP), socket (Socket Mode), check.

A bad or missing setting stops start-up with one line naming the variable (exit 2), never a
traceback; so does a Slack token that `auth.test` refuses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from slack_bolt.error import BoltError

from bot import logs
from bot.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mailcow-chatops", description="Run mailcow from Slack.")
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz, GET /metrics")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN); no public URL needed")
    sub.add_parser("check", help="check settings, mailcow, Slack and the database; exit 0 or 1")
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
    logs.configure(settings.log_level, settings.log_format)

    if options.mode == "check":
        from bot.check import run_checks

        return run_checks(settings)
    return _run(options, settings)


def _run(options: argparse.Namespace, settings: Settings) -> int:
    from bot.app import build_app, build_services

    services = build_services(settings)
    try:
        app = build_app(services)
    except BoltError as error:
        print(f"mailcow-chatops: Slack refused SLACK_BOT_TOKEN: {error}", file=sys.stderr)
        return 2
    if options.mode == "serve":
        from bot.server import serve

        serve(app, services, options.host, options.port)
        return 0
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot import metrics

    metrics.READY.set(1)
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    SocketModeHandler(app, app_token).start()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    sys.exit(main())
