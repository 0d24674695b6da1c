"""Ours without its lazy work: the serving process exactly as `mailcow-chatops serve` builds it (the
settings from the environment, the guard, every listener, Bolt's runner without the copy), but each
lazy function is discarded instead of handed to a worker.

Against bare Bolt, which does no work either, this shows what the serving process costs by itself,
and so how much of ours's figures is the lazy work sharing the cores (the workers' rendering, Slack
posts and audit writes, and the stand-ins answering them).

    python -m bench.ackonly --port 3102
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from slack_bolt import BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner

from bot import logs
from bot.app import build_app, build_services
from bot.server import serve
from bot.settings import load_settings
from bot.workers import WorkerPool, hand_off


class Discard(LazyListenerRunner):
    """Starts nothing."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(__name__)

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    services = build_services(settings)
    app = build_app(services, background=False)
    hand_off(app, WorkerPool(settings, 0), services.executor)  # the serving process's runner, no copy
    app.listener_runner.lazy_listener_runner = Discard()  # as Bolt's AWS Lambda adapter swaps it
    serve(app, services, options.host, options.port)


if __name__ == "__main__":
    main()
