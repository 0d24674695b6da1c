"""The benchmark harness runs end to end on a tiny configuration and prints a table with every row.

Not a timing test: figures from a 20-request run mean nothing, and the machine is shared. It only
proves that the servers start, the stand-ins answer, every scenario runs or says why it skipped,
and the table reaches stdout and the output file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROWS = (
    "Repeated reads within the cache TTL",
    "Ack path in process",
    "Ack `/mailcow queue`, c=1",
    "Ack `/mailcow queue`, c=16",
    "Ack `/mailcow queue`, c=64",
    "Ack `/mailcow queue`, lazy work discarded (the serving process alone), c=1",
    "Ack `/mailcow queue`, lazy work discarded (the serving process alone), c=16",
    "Ack `/mailcow queue`, lazy work discarded (the serving process alone), c=64",
    "Ack `/mailcow help`, c=1",
    "Ack `/mailcow help`, c=16",
    "Ack `/mailcow help`, c=64",
    "Ack Approve click, c=1",
    "Ack Approve click, c=16",
    "Ack Approve click, c=64",
    "Options request over 50,000 mailboxes, c=1",
    "End to end `/mailcow queue` → thread reply",
    "Bot overhead (end to end − mailcow time)",
    "Rendering 10,000 queue items",
    "Peak RSS of the serving process",
)


def test_quick_run_prints_every_row(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scenarios = [line[2:].split(" | ")[0] for line in done.stdout.splitlines() if line.startswith("| ")]
    for row in ROWS:
        matching = [s for s in scenarios if s == row or s.startswith((f"{row} ", f"{row}:"))]
        assert len(matching) == 1, f"no single row for {row}: {scenarios}"
    assert "Machine: " in done.stdout
    assert "errors**" not in done.stdout, "a system under test answered something other than 200"
    assert output.read_text() == done.stdout.rstrip("\n") + "\n"
