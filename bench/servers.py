"""The servers a benchmark measures: started (pinned to a CPU with taskset when asked), awaited, stopped; their
workers' memory read from /proc."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.services import free_port

HOST = "127.0.0.1"
STOP_SECONDS = 30


class ServerFailed(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log."""


@dataclass(frozen=True)
class Served:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """`command` run on `cpu` only (taskset execs it, so the process id is the command's)."""
    return list(command) if cpu is None else ["taskset", "-c", str(cpu), *command]


def uvicorn_command(target: str | Sequence[str], port: int) -> list[str]:
    """uvicorn with uvloop and httptools serving `target` (an app, then any more uvicorn options) on `port`."""
    targets = [target] if isinstance(target, str) else list(target)
    options = ["--host", HOST, "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    return [sys.executable, "-m", "uvicorn", *targets, *options, "--no-access-log", "--log-level", "warning"]


def _log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # Lexica drains and stops its workers; uvicorn and granian stop
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


@contextmanager
def serve(
    command: Sequence[str],
    *,
    port: int,
    ready_path: str,
    env: Mapping[str, str],
    log_path: Path,
    start_seconds: float,
) -> Iterator[Served]:
    """Runs `command` (listening on 127.0.0.1:`port`) until the block ends; yields once `ready_path` answers 200."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    served = Served(f"http://{HOST}:{port}", process, log_path)
    try:
        deadline = time.monotonic() + start_seconds
        with httpx.Client(base_url=served.base_url, timeout=2.0) as probe:
            while True:
                if process.poll() is not None:
                    raise ServerFailed(f"{command[-1]} exited with {process.returncode}:\n{_log_tail(log_path)}")
                try:
                    if probe.get(ready_path).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerFailed(f"no 200 from {ready_path} in {start_seconds:.0f} s:\n{_log_tail(log_path)}")
                time.sleep(0.1)
        yield served
    finally:
        _stop(process)


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` now (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ServerFailed(f"no VmRSS for process {pid}")


def spawned_workers(pid: int) -> list[int]:
    """The worker processes a supervisor started with multiprocessing's spawn (not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = []
    for child in children:
        command_line = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in command_line:
            workers.append(int(child))
    return workers


@contextmanager
def uvicorn_server(target: Sequence[str], env: Mapping[str, str], *, start_seconds: float = 60) -> Iterator[Served]:
    """`uvicorn_command(target)` on a free port, its log in a temporary file, until it answers /health/ready."""
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="lexica-bench-") as logs,
        serve(
            uvicorn_command(target, port),
            port=port,
            ready_path="/health/ready",
            env=env,
            log_path=Path(logs) / "server.log",
            start_seconds=start_seconds,
        ) as served,
    ):
        yield served
