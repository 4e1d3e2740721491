"""Fixtures for platform tests that need a real Redis server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from bench.services import RedisServer, skip_or_fail
from tests.platform.private_redis import private_redis

TEST_REDIS_URL_ENV = "LEXICA_TEST_REDIS_URL"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}:{parts.port or 6379}").geturl()


def require_redis(url: str) -> None:
    """Skips the calling test when Redis does not answer at `url`; fails it when CI requires services."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis does not answer at {_without_password(url)} ({exc}); set {TEST_REDIS_URL_ENV}"
        skip_or_fail(reason)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a Redis server for tests (LEXICA_TEST_REDIS_URL, default database 15 on localhost)."""
    url = os.environ.get(TEST_REDIS_URL_ENV, DEFAULT_TEST_REDIS_URL)
    require_redis(url)
    return url


@pytest.fixture
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys, and only those, are deleted afterwards."""
    prefix = f"lexica-test:{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def killable_redis() -> Iterator[RedisServer]:
    """A private Redis of the test's own, which it may kill and start again (never the shared one)."""
    with private_redis() as server:
        yield server
