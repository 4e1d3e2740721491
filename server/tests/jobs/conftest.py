"""A Redis server of the jobs tests' own, started with extra arguments (e.g. a command renamed away, to make one kind
of Redis call fail for real) and killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.platform.private_redis import private_redis


@contextmanager
def redis_server(*arguments: str) -> Iterator[str]:
    """The URL of a fresh, empty Redis run with `arguments`; killed on exit."""
    with private_redis(*arguments) as server:
        yield server.url


@pytest.fixture
def private_redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url
