"""The regression gate that the machine's noise cannot fool: CPU instructions one cached entry lookup costs.

Timing on a shared machine moves by ±30% between runs; instruction counts do not. Under valgrind's callgrind
(perf's hardware counters are not available in this container), N cached lookups run through the whole ASGI app
in process (`bench.hot_path`), and only they are counted: collection is on only inside `functools.reduce`, which
drives them (callgrind's `--toggle-collect` takes a C function's name; nothing else in the process calls that one).
The count per lookup is compared with the committed baseline (`bench/instructions_baseline.json`); more than 15%
above it fails. After an intended change: `python -m bench.instructions --update`.

    python -m bench.instructions             # measure, compare, exit 1 on a regression
    python -m bench.instructions --update    # measure and write the baseline
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

BASELINE = Path(__file__).with_name("instructions_baseline.json")
TOLERANCE = 0.15
LOOKUPS = 200
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Measurement:
    instructions_per_lookup: int
    lookups: int
    python: str


def _drive(database_url: str, count: int) -> None:
    """In the measured process: start the app, warm the cache, then `count` lookups inside `functools.reduce`."""
    from asgi_lifespan import LifespanManager

    from bench.hot_path import lookup, settings
    from lexica.app import create_app

    async def main() -> None:
        app = create_app(settings(database_url))
        # Start-up under valgrind takes tens of seconds (longer on a busy machine): no start-up deadline.
        async with LifespanManager(app, startup_timeout=None, shutdown_timeout=None) as manager:
            served = manager.app
            assert await lookup(served) == 200  # cached from here on

            async def lookups() -> None:
                for _ in range(count):
                    await lookup(served)

            coroutine = lookups()

            def run_all(done: int, _: int) -> int:
                # A cached lookup awaits nothing that suspends, so the coroutine runs to its end in one send.
                try:
                    yielded = coroutine.send(None)
                except StopIteration:
                    return done + count
                raise SystemExit(f"a cached lookup suspended on {yielded!r}: it cannot be counted this way")

            functools.reduce(run_all, range(1), 0)

    asyncio.run(main())


def measure(lookups: int = LOOKUPS) -> Measurement:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise FileNotFoundError("valgrind is not installed (Debian: apt-get install valgrind; `make test-tools`)")
    from bench.hot_path import seed

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'hot.sqlite3'}"
        asyncio.run(seed(database_url))
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        command = [
            valgrind,
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--drive",
            database_url,
            str(lookups),
        ]
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"the measured run failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}")
        found = _TOTALS.search(out.read_bytes())
        if found is None:
            raise RuntimeError("callgrind wrote no totals")
        total = int(found.group(1))
    return Measurement(total // lookups, lookups, platform.python_version())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="write the measurement as the new baseline")
    parser.add_argument("--lookups", type=int, default=LOOKUPS)
    parser.add_argument("--drive", nargs=2, metavar=("DATABASE_URL", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        _drive(args.drive[0], int(args.drive[1]))
        return
    measured = measure(args.lookups)
    if args.update:
        BASELINE.write_text(json.dumps(asdict(measured), indent=2) + "\n", encoding="utf-8")
        print(f"baseline written: {measured.instructions_per_lookup:,} instructions per cached lookup")
        return
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    ratio = measured.instructions_per_lookup / baseline["instructions_per_lookup"]
    print(
        f"cached lookup: {measured.instructions_per_lookup:,} instructions "
        f"(baseline {baseline['instructions_per_lookup']:,}; ratio {ratio:.3f}, limit {1 + TOLERANCE:.2f})"
    )
    if ratio > 1 + TOLERANCE:
        raise SystemExit(f"regression: {ratio - 1:.0%} more instructions per cached lookup than the baseline")


if __name__ == "__main__":
    main()
