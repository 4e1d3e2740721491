"""`make bench`: Lexica and reference apps under wrk, one worker pinned to one CPU and wrk on another, each row
as a ratio of a bare ASGI callable's throughput in the same run."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from bench import fuzzy
from bench.run import Bench, Load
from bench.scenarios import ALL_NAMES
from bench.wrk import INSTALL_HINT, wrk_executable
from lexica.settings import Settings
from lexica.storage.backends import open_storage
from lexica.words.repository import IndexRow

DEFAULT_SECONDS = 10
QUICK_SECONDS = 3
BUSY_LOAD = 1.0  # a load average this high before the run: other processes take a CPU the bench needs
SHUFFLE_SEED = 11  # the order of the headword list, and so each headword's Zipf rank, is the same in every run


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=int, help=f"seconds of each measurement (default {DEFAULT_SECONDS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS} s measurements, 1 s warm-ups")
    parser.add_argument(
        "--only", action="append", metavar="TEXT", help="run the rows whose name contains TEXT (repeatable); "
        "the bare-ASGI baseline always runs",
    )  # fmt: skip
    parser.add_argument("--list", action="store_true", help="print the rows' names and exit")
    return parser.parse_args()


def _cpus() -> tuple[int | None, int | None, str | None]:
    """The server's CPU, wrk's CPU, and a warning when they cannot be two different ones."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None, f"only {len(available)} CPU available: servers and wrk share it, nothing is pinned"
    return available[0], available[1], None


async def _index_rows() -> list[IndexRow]:
    async with open_storage(Settings()) as storage:
        return await storage.words.index_rows()


def _write_paths(headwords: list[str], path: Path) -> None:
    """Every headword's entry path, one a line, in a fixed shuffled order: wrk_report.lua's list."""
    shuffled = sorted(headwords)
    random.Random(SHUFFLE_SEED).shuffle(shuffled)  # noqa: S311 - a reproducible order, not a secret
    path.write_text("".join(f"/api/v1/words/{quote(headword, safe='')}\n" for headword in shuffled))


def main() -> int:
    args = _arguments()
    if args.list:
        print("\n".join(ALL_NAMES))
        return 0
    if wrk_executable() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    seconds = args.duration or (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    patterns = [pattern.lower() for pattern in args.only or []]
    server_cpu, load_cpu, warning = _cpus()
    load_before = os.getloadavg()[0]
    env = dict(os.environ)
    # The limiter stays on, as in production, with a quota no benchmark reaches: its cost is measured too.
    env.setdefault("LEXICA_RATE_LIMIT_ANONYMOUS", "100000000/minute")
    subprocess.run([sys.executable, "-m", "lexica.cli", "import", "gcide", "--if-empty"], check=True, env=env)
    rows = asyncio.run(_index_rows())
    headwords = [row.headword for row in rows]
    with tempfile.TemporaryDirectory(prefix="lexica-bench-") as workdir:
        paths = Path(workdir) / "headwords.txt"
        _write_paths(headwords, paths)
        bench = Bench(
            Load(seconds, 1 if args.quick else 2, server_cpu, load_cpu),
            selected=lambda name: not patterns or any(pattern in name.lower() for pattern in patterns),
            env=env,
            workdir=Path(workdir),
            headword_paths=paths,
            headword_count=len(headwords),
        )
        report = bench.run()
    if not patterns or any(pattern in "fuzzy search in process" for pattern in patterns):
        report.facts.append(fuzzy.measure(rows).line())
    if warning:
        report.notes.append(warning)
    if load_before >= BUSY_LOAD:
        report.notes.append(
            f"load average {load_before:.1f} before the run: other processes were using the CPUs, so every number "
            "(ratios too: the rows ran at different times) is noisy; run it again on an idle machine"
        )
    pinning = f"servers on CPU {server_cpu}, wrk on CPU {load_cpu}" if server_cpu is not None else "nothing pinned"
    print(f"wrk -t1 -c64 -d{seconds}s --latency, one worker per server; {pinning}; ratio: req/s over the first row's")
    print(report.text())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
