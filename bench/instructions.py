"""The regression gate that the machine's noise cannot fool: CPU instructions one cached entry lookup costs.

Timing on a shared machine moves by ±30% between runs; instruction counts do not. Under valgrind's callgrind
(perf's hardware counters are not available in this container), N cached lookups run through the whole ASGI app
in process (`bench.hot_path`), and only they are counted: collection is on only inside `functools.reduce`, which
drives them (callgrind's `--toggle-collect` takes a C function's name; nothing else in the process calls that one).
The count per lookup is compared with the committed baseline (`bench/instructions_baseline.json`); more than 15%
above it fails. After an intended change: `python -m bench.instructions --update`.

That count leaves out what the HTTP server does and the access log (in process, the log is off). `--server` counts
a whole `lexica serve` process instead — protocol, app and access line — under callgrind while wrk sends it cached
lookups, with instrumentation switched on only around the wrk run (`callgrind_control`), and the same for the
bare ASGI app on uvicorn: their quotient is the throughput ratio `make bench` reports for the cached lookup, but
without the machine's noise (it moves by about 1% between runs). That count is gated too
(`server_instructions_per_request`).

    python -m bench.instructions             # measure, compare, exit 1 on a regression
    python -m bench.instructions --server    # the whole server's count per request, and the bare app's
    python -m bench.instructions --update    # measure both and write the baseline
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bench.servers import Served

BASELINE = Path(__file__).with_name("instructions_baseline.json")
TOLERANCE = 0.15
LOOKUPS = 200
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)
_EVENT_TOTALS = re.compile(rb"^totals: (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Measurement:
    instructions_per_lookup: int
    lookups: int
    python: str
    server_instructions_per_request: int = 0  # a whole `lexica serve` process (see --server); 0: not measured


SERVER_SECONDS = 8  # of wrk against the server under callgrind (a few thousand requests)
SERVER_START_SECONDS = 600  # start-up under valgrind is slow, slower still on a busy machine


def _callgrind(out: Path) -> list[str]:
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise FileNotFoundError("valgrind is not installed (Debian: apt-get install valgrind; `make test-tools`)")
    return [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def _requests_counted(served: Served, path: str) -> int:
    """Sends `served` (started under `_callgrind`) `path` with wrk, instrumented; how many requests were sent."""
    from bench.wrk import run_wrk

    for _ in range(3):  # cached from here on
        httpx.get(served.base_url + path, timeout=30).raise_for_status()
    control = [shutil.which("callgrind_control") or "callgrind_control"]
    pid = str(served.pid)
    subprocess.run([*control, "--instr=on", pid], check=True, capture_output=True)  # noqa: S603 - our own arguments
    result = run_wrk(served.base_url + path, seconds=SERVER_SECONDS, connections=8)
    subprocess.run([*control, "--instr=off", pid], check=True, capture_output=True)  # noqa: S603
    if result.error_statuses or result.socket_errors or not result.requests:
        raise RuntimeError(f"the measured requests failed: {result}")
    return result.requests


def _instructions(out: Path) -> int:
    """What callgrind counted (written when the process ends), over every part it wrote."""
    # "totals", not "summary": with instrumentation switched on and off, the summary line of a part may read 0.
    parts = [_EVENT_TOTALS.search(part.read_bytes()) for part in out.parent.glob(out.name + "*")]
    total = sum(int(found.group(1)) for found in parts if found is not None)
    if not total:
        raise RuntimeError(f"callgrind wrote no counts to {out}")
    return total


def measure_server() -> tuple[int, int]:
    """Instructions per cached lookup of a whole `lexica serve` process (one worker, default settings but the
    rate limit's quota, access log on), and per request of the bare ASGI app on uvicorn."""
    from bench.hot_path import PATH, seed
    from bench.servers import serve, uvicorn_command
    from bench.services import free_port

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'hot.sqlite3'}"
        asyncio.run(seed(database_url))
        env = {
            **os.environ,
            "PYTHONHASHSEED": "0",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "LEXICA_DATABASE_URL": database_url,
            "LEXICA_SECRET_KEY": "instruction-count-secret-key-long-enough",
            "LEXICA_RATE_LIMIT_ANONYMOUS": "100000000/minute",  # on, as in production, never reached
            "LEXICA_ENTRY_CACHE_WARM_COUNT": "0",
            "LEXICA_SHUTDOWN_DRAIN_SECONDS": "0",
            "LEXICA_WORKERS": "1",
        }
        counts = []
        for name, ready in (("lexica", "/health/ready"), ("bare", PATH)):
            port = free_port()
            command = (
                [sys.executable, "-m", "lexica.cli", "serve", "--no-load-dictionary"]
                if name == "lexica"
                else uvicorn_command("bench.reference.bare:app", port)
            )
            out = Path(tmp) / f"{name}.callgrind"
            with serve(
                [*_callgrind(out), *command],
                port=port,
                ready_path=ready,
                env={**env, "LEXICA_HOST": "127.0.0.1", "LEXICA_PORT": str(port)},
                log_path=Path(tmp) / f"{name}.log",
                start_seconds=SERVER_START_SECONDS,
            ) as served:
                requests = _requests_counted(served, PATH)
            counts.append(round(_instructions(out) / requests))  # the process has ended: its counts are written
    return counts[0], counts[1]


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
    parser.add_argument("--update", action="store_true", help="write the measurements as the new baseline")
    parser.add_argument("--server", action="store_true", help="count a whole server process (and the bare app)")
    parser.add_argument("--lookups", type=int, default=LOOKUPS)
    parser.add_argument("--drive", nargs=2, metavar=("DATABASE_URL", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        _drive(args.drive[0], int(args.drive[1]))
        return
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    if args.server or args.update:
        server, bare = measure_server()
        print(
            f"whole server: {server:,} instructions per cached lookup (baseline "
            f"{baseline.get('server_instructions_per_request', 0):,}); bare ASGI app on uvicorn: {bare:,} per "
            f"request; ratio bare/server {bare / server:.2f} (make bench's throughput ratio, without the noise)"
        )
        if not args.update:
            _gate(server, baseline.get("server_instructions_per_request", 0), "whole-server")
            return
    measured = measure(args.lookups)
    if args.update:
        measured = replace(measured, server_instructions_per_request=server)
        BASELINE.write_text(json.dumps(asdict(measured), indent=2) + "\n", encoding="utf-8")
        print(f"baseline written: {measured.instructions_per_lookup:,} instructions per cached lookup in process")
        return
    print(
        f"cached lookup: {measured.instructions_per_lookup:,} instructions "
        f"(baseline {baseline['instructions_per_lookup']:,}; limit {1 + TOLERANCE:.2f} times)"
    )
    _gate(measured.instructions_per_lookup, baseline["instructions_per_lookup"], "in-process")


def _gate(measured: int, baseline: int, what: str) -> None:
    if baseline and measured > baseline * (1 + TOLERANCE):
        raise SystemExit(
            f"regression: {measured / baseline - 1:.0%} more instructions per cached lookup ({what}) than the baseline"
        )


if __name__ == "__main__":
    main()
