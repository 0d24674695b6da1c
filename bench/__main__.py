"""`python -m bench`: run every scenario, print one Markdown table, write it to `bench/results.md`.

python -m bench                  # the full run (a few minutes)
python -m bench --quick          # tiny configuration: checks the harness end to end
python -m bench --requests 5000  # more requests per cell for tighter tails
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from bench.report import table
from bench.scenarios import Bench, Config, all_rows
from bench.servers import ours_env, start
from bench.standins import StandIns

RESULTS = Path(__file__).resolve().parent / "results.md"
QUICK = Config(requests=20, rounds=2, warmup=4, e2e=5, repeats=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="mailcow-chatops benchmarks")
    parser.add_argument("--quick", action="store_true", help="a tiny run, to check the harness")
    parser.add_argument("--requests", type=int, help="measured requests per system for each cell")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    options = parser.parse_args(argv)
    config = QUICK if options.quick else Config()
    if options.requests:
        config = dataclasses.replace(config, requests=options.requests)

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chatops-bench-")))
        standins = StandIns()
        stack.callback(standins.stop)
        env = ours_env(standins.slack_base, standins.mailcow_url, standins.mailcow_key, workdir)
        e2e_db = {"CHATOPS_DATABASE_URL": f"sqlite:///{workdir / 'e2e.db'}"}
        launches = [
            ("ours", ["-m", "bot", "serve"], env),
            ("ours-e2e", ["-m", "bot", "serve"], {**env, "CHATOPS_CACHE_TTL": "0", **e2e_db}),
            ("bare", ["-m", "bench.reference", "bare", "--slack-api-url", env["SLACK_API_URL"]], None),
            ("raw", ["-m", "bench.reference", "raw"], None),
            (
                "ours-ack",
                ["-m", "bench.ackonly"],
                {**env, "CHATOPS_DATABASE_URL": f"sqlite:///{workdir / 'ack.db'}"},
            ),
        ]
        servers = []
        for name, args, server_env in launches:
            servers.append(start(name, args, workdir, server_env, health=name.startswith("ours")))
            stack.callback(servers[-1].stop)
        ours, e2e, bare, raw, ack_only = servers
        bench = Bench(config, standins, ours, e2e, bare, raw, ack_only, workdir)
        try:
            output = table(all_rows(bench), config)
        except Exception:
            for server in servers:  # the logs go with the temporary directory: show them first
                print(f"--- {server.name} log (tail)\n{server.log.read_text()[-2000:]}", file=sys.stderr)
            raise
    print(output)
    options.output.write_text(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
