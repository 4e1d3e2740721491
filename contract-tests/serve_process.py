"""`lexica serve` (the production entry point, not bare uvicorn) in a subprocess, for tests of the server process:
slow clients, the connection cap, SIGTERM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.services import stop
from lexica.settings import Settings

READY_PATH = "/health/ready"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(database_url: str, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    """Only our LEXICA_ settings: a developer's shell or .env must not change what the tests run against."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEXICA_")}
    env.update(
        {
            "LEXICA_DATABASE_URL": database_url,
            "LEXICA_ENVIRONMENT": "test",
            "LEXICA_TUNE_GC": "false",
            "LEXICA_LOG_LEVEL": "warning",
            "LEXICA_HOST": "127.0.0.1",
            "LEXICA_PORT": str(port),
        }
    )
    env.update(extra)
    return env


@dataclass
class Served:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _assert_known_settings(extra: Mapping[str, str]) -> None:
    # A misspelt LEXICA_ variable would silently test the defaults.
    fields = {f"LEXICA_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(set(extra) - fields)
    assert not unknown, f"not Lexica settings: {unknown}"


@contextmanager
def run_lexica_serve(
    database_url: str,
    workdir: Path,
    *,
    extra_env: Mapping[str, str],
    ready_timeout: float = 30.0,
    port: int | None = None,
    arguments: Sequence[str] = (),
) -> Iterator[Served]:
    """`lexica serve --no-load-dictionary [arguments]` on `port` (default: a free one); yields once it is ready,
    stops it on exit if still up (SIGTERM, then SIGKILL after 15 s)."""
    _assert_known_settings(extra_env)
    port = port or free_port()
    log_path = workdir / f"serve-{port}.log"
    restarts = 1
    while log_path.exists():  # the same port served again (a restart): keep the earlier process's log
        restarts += 1
        log_path = workdir / f"serve-{port}-{restarts}.log"
    command = [sys.executable, "-m", "lexica.cli", "serve", "--no-load-dictionary", *arguments]
    with log_path.open("wb") as log:
        # cwd is the temporary directory so that no .env file of the checkout is read.
        process = subprocess.Popen(
            command, cwd=workdir, env=serve_env(database_url, port, extra_env), stdout=log, stderr=subprocess.STDOUT
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        with httpx.Client(base_url=served.base_url, timeout=1.0) as probe:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"lexica serve exited with {process.returncode}:\n{served.log()}", pytrace=False)
                try:
                    if probe.get(READY_PATH).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"lexica serve was not ready in {ready_timeout:.0f} s:\n{served.log()}", pytrace=False)
                time.sleep(0.1)
        yield served
    finally:
        # SIGTERM first: a supervisor killed outright leaves its worker processes behind (they stop on their own once
        # they notice, within a second, but a test should not lean on that).
        stop(process, grace=15)
