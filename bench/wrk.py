"""wrk (Debian's C load generator, installed by `make bench-tools`) driven from Python: one run, its numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SCRIPT = Path(__file__).with_name("wrk_report.lua")
MARKER = "BENCH_JSON "
TIMEOUT_SECONDS = 5  # a request slower than this counts as a timeout, not as latency
INSTALL_HINT = "wrk is not installed: run `make bench-tools` (as root it installs the Debian package wrk)"

Rotation = Literal["cycle", "zipf"]


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no report."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    error_statuses: int  # responses with a status above 399

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.error_statuses


def wrk_executable() -> str | None:
    return shutil.which("wrk")


def parse_report(output: str) -> WrkResult:
    """The numbers from the `BENCH_JSON` line that wrk_report.lua's done() prints."""
    line = next((line for line in output.splitlines() if line.startswith(MARKER)), None)
    if line is None:
        raise WrkError(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")
    report = json.loads(line.removeprefix(MARKER))
    errors, latency = report["errors"], report["latency_us"]
    return WrkResult(
        requests=int(report["requests"]),
        seconds=report["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        socket_errors=sum(int(errors[kind]) for kind in ("connect", "read", "write", "timeout")),
        error_statuses=int(errors["status"]),
    )


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 1,
    cpu: int | None = None,
    headers: dict[str, str] | None = None,
    paths: Path | None = None,
    rotation: Rotation = "cycle",
    seed: int = 0,
) -> WrkResult:
    """`wrk --latency` against `url` (pinned to `cpu` with taskset when given); with `paths`, each request takes
    its path from that file (`rotation`) instead of the URL's, in an order set by `seed` (two runs with the same
    seed ask for the same paths in the same order: a cache measured after such a warm-up only sees repeats)."""
    executable = wrk_executable()
    if executable is None:
        raise WrkError(INSTALL_HINT)
    command = [executable, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={TIMEOUT_SECONDS}s"]
    command += ["--latency", "-s", str(SCRIPT)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    if paths is not None:
        command += ["--", str(paths), rotation, str(seed)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    completed = subprocess.run(  # noqa: S603 - our own argument list
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise WrkError(f"wrk exited with {completed.returncode}: {completed.stderr.strip() or completed.stdout}")
    return parse_report(completed.stdout)
