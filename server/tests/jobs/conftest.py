"""A Redis server of the jobs tests' own: a `redis-server` subprocess on a free port, started with extra arguments
(e.g. a command renamed away, to make one kind of Redis call fail for real) and killed at the end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(*arguments: str) -> Iterator[str]:
    """The URL of a fresh, empty Redis run with `arguments`; killed on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *arguments]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as probe:
                    probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"redis-server on port {port} did not start")
                time.sleep(0.02)
        yield url
    finally:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def private_redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url
