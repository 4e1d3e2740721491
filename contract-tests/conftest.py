"""Fixtures for tests against a real server: uvicorn in a subprocess, on a free loopback port, over a
SQLite file seeded before it starts."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import redis
from sdk_helpers import JOBS_ADMIN_EMAIL, PASSWORD, jobs_api_key, new_jobs_reader
from seed import SAMPLE_ENTRIES, gcide_entries, seed_entries

from bench.services import RedisServer, ServiceUnavailable, private_redis, skip_or_fail, stop
from lexica.words.repository import NewEntry
from lexica_client import Lexica

READY_PATH = "/health/ready"
START_ATTEMPTS = 3  # a free port can be taken by someone else between our probe and uvicorn's bind


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_env(database_url: str, extra: Mapping[str, str]) -> dict[str, str]:
    # Only our LEXICA_ settings: a developer's shell or .env must not change what the tests run against.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEXICA_")}
    env.update(
        {
            "LEXICA_DATABASE_URL": database_url,
            "LEXICA_ENVIRONMENT": "test",
            "LEXICA_TUNE_GC": "false",
            "LEXICA_LOG_LEVEL": "warning",
        }
    )
    env.update(extra)
    return env


def _log_tail(log_path: Path, lines: int = 40) -> str:
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, timeout: float) -> str | None:
    """None once the server answers 200 on the readiness probe; otherwise why it did not."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=1.0) as probe:
        while True:
            if process.poll() is not None:
                return f"exited with code {process.returncode} before it was ready"
            try:
                if probe.get(READY_PATH).status_code == 200:
                    return None
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                return f"was not ready ({READY_PATH} -> 200) within {timeout:.0f} s"
            time.sleep(0.1)


@contextmanager
def run_live_server(
    database_url: str,
    workdir: Path,
    *,
    ready_timeout: float = 30.0,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Serve `database_url` with uvicorn in a subprocess; yields its base URL and stops it on exit."""
    env = _server_env(database_url, extra_env or {})
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = workdir / f"uvicorn-{port}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "lexica.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        with log_path.open("wb") as log:
            # cwd is the temporary directory so that no .env file of the checkout is read.
            process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            failure = _wait_until_ready(process, base_url, ready_timeout)
            if failure is None:
                yield base_url
                return
            port_taken = "address already in use" in _log_tail(log_path).lower()
            if not (port_taken and attempt < START_ATTEMPTS):
                pytest.fail(f"uvicorn on {base_url} {failure}; its output:\n{_log_tail(log_path)}", pytrace=False)
        finally:
            stop(process)


def seed_database(directory: Path, entries: Sequence[NewEntry]) -> str:
    """A SQLite file in `directory` holding `entries`; returns its SQLAlchemy URL."""
    url = f"sqlite+aiosqlite:///{directory / 'lexica.sqlite3'}"
    asyncio.run(seed_entries(url, entries))
    return url


@pytest.fixture(scope="session")
def sample_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a database holding `seed.SAMPLE_ENTRIES`."""
    return seed_database(tmp_path_factory.mktemp("sample-db"), SAMPLE_ENTRIES)


@pytest.fixture(scope="session")
def live_server(sample_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real uvicorn server over the sample database, shared by the whole session."""
    with run_live_server(sample_database, tmp_path_factory.mktemp("live-server")) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def gcide_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real server over the whole GCIDE dictionary; mark tests using it `slow`."""
    database_url = seed_database(tmp_path_factory.mktemp("gcide-db"), gcide_entries())
    with run_live_server(database_url, tmp_path_factory.mktemp("gcide-live-server"), ready_timeout=120.0) as base_url:
        yield base_url


@contextmanager
def run_worker(database_url: str, workdir: Path, *, extra_env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`lexica worker` in a subprocess (it needs LEXICA_REDIS_URL in `extra_env`); stopped on exit."""
    env = _server_env(database_url, extra_env)
    log_path = workdir / f"worker-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "lexica.cli", "worker"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        time.sleep(0.5)
        if process.poll() is not None:
            pytest.fail(f"lexica worker exited with {process.returncode}:\n{_log_tail(log_path)}", pytrace=False)
        yield process
    finally:
        stop(process)


# The SDK's job tests (`test_sdk_job*.py`): each module starts its own server, which runs jobs in-process one at a
# time and ends every event stream after a second, so following a job for longer means reconnecting.


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = seed_database(tmp_path_factory.mktemp("sdk-jobs-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_FIRST_ADMIN_EMAIL": JOBS_ADMIN_EMAIL,
        "LEXICA_FIRST_ADMIN_PASSWORD": PASSWORD,
        "LEXICA_SECRET_KEY": "sdk-jobs-secret-key-long-enough-for-every-check",
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_EVENT_STREAM_LIFETIME_SECONDS": "1",
        "LEXICA_JOB_CONCURRENCY": "1",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("sdk-jobs-server"), extra_env=env) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def admin_key(jobs_server: str) -> str:
    return jobs_api_key(jobs_server, JOBS_ADMIN_EMAIL)


@pytest.fixture(scope="module")
def reader_key(jobs_server: str) -> str:
    return new_jobs_reader(jobs_server)


@pytest.fixture
def admin(jobs_server: str, admin_key: str) -> Iterator[Lexica]:
    with Lexica(jobs_server, api_key=admin_key, timeout=30.0) as client:
        yield client


AnyRedis = TypeVar("AnyRedis", bound=RedisServer)


@contextmanager
def started_redis(server: AnyRedis) -> Iterator[AnyRedis]:
    """A private `redis-server` started, and killed on exit; skips without one, or fails when
    LEXICA_REQUIRE_SERVICES=1."""
    try:
        server.start()
    except ServiceUnavailable as exc:
        skip_or_fail(str(exc))
    try:
        yield server
    finally:
        server.kill()


def require_empty_redis(url: str, env_name: str) -> None:
    """Redis at `url`, emptied (FLUSHDB: a database of the test's own, so no queue or event history is left over);
    skips without it, or fails when LEXICA_REQUIRE_SERVICES=1."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as exc:
        reason = f"Redis does not answer at {url} ({exc}); set {env_name}"
        skip_or_fail(reason)
    finally:
        client.close()


@pytest.fixture
def private_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of this test's own (`redis-server` on a free port, killed afterwards); skips without one, or fails
    when LEXICA_REQUIRE_SERVICES=1."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(private_redis(tmp_path_factory.mktemp("private-redis")))
        except ServiceUnavailable as exc:
            skip_or_fail(str(exc))
        yield server.url
