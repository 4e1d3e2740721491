"""A Redis server of the test's own (`bench.services.RedisServer`: a `redis-server` subprocess on a free port), so
that it can be killed and restarted; skipped without `redis-server`, or failed when LEXICA_REQUIRE_SERVICES=1."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.services import RedisServer, ServiceUnavailable, skip_or_fail
from bench.services import private_redis as started_redis

PrivateRedis = RedisServer


@contextmanager
def private_redis(*arguments: str) -> Iterator[RedisServer]:
    """A started private Redis run with `arguments` (more `redis-server` options), killed on exit."""
    with tempfile.TemporaryDirectory(prefix="lexica-redis-") as workdir:
        try:
            with started_redis(Path(workdir), arguments=arguments) as server:
                yield server
        except ServiceUnavailable as unavailable:
            skip_or_fail(str(unavailable))
