"""The Markdown table and the line that says which machine produced it."""

from __future__ import annotations

import importlib.util
import os
import platform
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from bench.scenarios import Config, Row

HEADER = (
    "Scenario",
    "Ours: p50 / p99 · req/s · server CPU per request",
    "Bare Bolt",
    "Raw ASGI floor",
    "Ratio",
    "Target",
    "Result",
)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """CPU, cores and the versions that decide the figures (uvicorn picks h11/httptools itself)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return (
        f"{cpu_model()}, {os.cpu_count()} cores · Linux {platform.release()} · "
        f"Python {platform.python_version()} · slack-bolt {version('slack-bolt')} · "
        f"uvicorn {version('uvicorn')} ({http}, {loop} loop)"
    )


def table(rows: Sequence[Row], config: Config) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
        *(
            "| "
            + " | ".join((r.scenario, r.ours, r.bare, r.raw, r.ratio, r.target, r.result)).replace("\n", " ")
            + " |"
            for r in rows
        ),
    ]
    method = (
        f"{config.requests:,} measured requests per system and cell in {config.rounds} alternating rounds "
        "after a warm-up; one load-generator process, a new connection per request, loopback; "
        "servers and stand-ins in their own processes."
    )
    return "\n".join(
        [
            f"Machine: {machine()}  ",
            f"Run: {time.strftime('%Y-%m-%d %H:%M %Z')} · {method}",
            "",
            *lines,
            "",
        ]
    )
