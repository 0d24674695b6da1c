"""One replica of the app for `Cluster` (tests/fakes/processes.py): `python -m tests.replica PORT CLOCK_FILE`.

It serves HTTP exactly as `mailcow-chatops serve` does, with the settings from the environment, except
for two things a test needs: its clock reads CLOCK_FILE (a number of seconds the test moves forward,
so expiries and stale heartbeats happen without waiting), and its background jobs wake every 50 ms
instead of every second.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bot import logs
from bot.app import build_app, build_services, start_background
from bot.server import serve
from bot.settings import load_settings


def file_clock(path: Path) -> Callable[[], float]:
    def now() -> float:
        return float(path.read_text())

    return now


def main(port: int, clock_file: Path) -> None:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    services = build_services(settings, clock=file_clock(clock_file))
    app = build_app(services, background=False)
    start_background(services, resolution=0.05)
    serve(app, services, "127.0.0.1", port)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
