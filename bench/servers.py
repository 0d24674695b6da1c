"""The systems under test, each a separate server process: ours (`python -m bot serve`) and the two
references (`python -m bench.reference`), all under the same uvicorn settings.

Ours runs its lazy work in worker processes (CHATOPS_WORKERS, default 2), children of the serving
process: CPU time counts the whole process tree (the work is part of what a request costs), and the
serving process's own CPU and memory are read separately.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.slack_plugin import (
    ALLOWED,
    ALLOWED_2,
    APPROVER,
    APPROVER_2,
    BOT_TOKEN,
    GROUP,
    OPERATOR,
    SIGNING_SECRET,
)

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def peak_rss_mb(self, pid: int | None = None) -> float:
        """Peak resident set so far (VmHWM) of the serving process or `pid`, in MB (10^6 bytes)."""
        for line in Path(f"/proc/{pid or self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise RuntimeError(f"no VmHWM for {self.name}")

    def workers(self) -> list[int]:
        """PIDs of the serving process's worker processes (its children but multiprocessing's
        resource tracker)."""
        found = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"resource_tracker" not in cmdline:
                    found.append(int(child))
        return sorted(found)

    def ack_cpu_seconds(self) -> float:
        """CPU time the serving process (every thread) has used so far, user and system."""
        return _cpu(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time of the serving process and its workers so far."""
        return self.ack_cpu_seconds() + sum(_cpu(pid) for pid in self.workers())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:  # a worker that just exited
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def ours_env(
    slack_base: str, mailcow_url: str, mailcow_key: str, workdir: Path, **extra: str
) -> dict[str, str]:
    """The production settings, pointed at the stand-ins (the roles of `tests.fakes.slack_plugin`)."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_base}/api/",
        "MAILCOW_URL": mailcow_url,
        "MAILCOW_API_KEY": mailcow_key,
        "CHATOPS_ALLOWED_CHANNELS": f"{ALLOWED},{ALLOWED_2}",
        "CHATOPS_OPERATORS": f"{OPERATOR},{APPROVER},{APPROVER_2},{GROUP}",
        "CHATOPS_APPROVERS": f"{APPROVER},{APPROVER_2}",
        "CHATOPS_DATABASE_URL": f"sqlite:///{workdir / 'chatops.db'}",
    }


def start(
    name: str, args: list[str], workdir: Path, env: dict[str, str] | None = None, *, health: bool = False
) -> Server:
    """Start `python <args> --port N` in `workdir` (so no stray `.env` is read) and wait until it listens,
    or with `health` until `GET /healthz` answers 200 (ours: its workers are ready)."""
    port = free_port()
    log = workdir / f"{name}.log"
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *args, "--port", str(port)],
            cwd=workdir,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if not health:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return server
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except (OSError, httpx.TransportError):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{name} did not start listening within 60 s") from None
            time.sleep(0.05)
