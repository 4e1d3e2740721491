"""The app's Redis clients: a circuit breaker that makes an outage cost a few failures, and a retry that makes a
restart cost none. Against real servers: a closed port, the test Redis, and a private redis-server killed and
restarted."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from bench.services import RedisServer
from lexica.platform.redis_client import CircuitBreaker, CircuitOpenError, RedisOptions, redis_client

CLOSED_PORT = "redis://127.0.0.1:1/0"
FAST = RedisOptions(socket_timeout=1.0, connect_timeout=1.0)


async def ping_error(url: str, breaker: CircuitBreaker) -> BaseException | None:
    client = redis_client(url, FAST, breaker=breaker)
    try:
        await client.ping()
        return None
    except RedisConnectionError as error:
        return error
    finally:
        await client.aclose()


def test_an_open_circuit_raises_a_redis_connection_error() -> None:
    assert issubclass(CircuitOpenError, RedisConnectionError)


async def test_after_consecutive_failures_calls_fail_at_once_without_trying() -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=60)
    client = redis_client(CLOSED_PORT, FAST, breaker=breaker)
    errors: list[BaseException] = []
    try:
        for _ in range(6):
            try:
                await client.ping()
            except RedisConnectionError as error:
                errors.append(error)
    finally:
        await client.aclose()

    assert [type(error) is CircuitOpenError for error in errors] == [False] * 3 + [True] * 3
    assert breaker.state == "open"


async def test_after_the_cool_down_one_trial_goes_through_and_success_closes_the_circuit(redis_url: str) -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=0.1)
    breaker.failed(RedisConnectionError("down"))
    assert isinstance(await ping_error(redis_url, breaker), CircuitOpenError)

    await asyncio.sleep(0.15)

    states = [breaker.state]
    assert await ping_error(redis_url, breaker) is None
    states.append(breaker.state)

    assert states == ["half-open", "closed"]


async def test_a_failed_trial_opens_the_circuit_again_and_only_one_trial_runs_at_a_time() -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=0.1)
    assert not isinstance(await ping_error(CLOSED_PORT, breaker), CircuitOpenError)
    await asyncio.sleep(0.15)

    errors = await asyncio.gather(*(ping_error(CLOSED_PORT, breaker) for _ in range(5)))

    assert sorted(type(error) is CircuitOpenError for error in errors) == [False] + [True] * 4
    assert breaker.state == "open"


async def test_errors_redis_answers_with_do_not_open_the_circuit(redis_url: str, redis_key_prefix: str) -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=60)
    client = redis_client(redis_url, FAST, breaker=breaker)
    key = f"{redis_key_prefix}:not-a-number"
    try:
        await client.set(key, "x", ex=60)
        with pytest.raises(ResponseError, match="not an integer"):
            await client.incr(key)
        assert await client.ping()
    finally:
        await client.aclose()

    assert breaker.state == "closed"


async def test_pooled_connections_survive_a_restart_of_redis(killable_redis: RedisServer) -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=60)
    client = redis_client(killable_redis.url, FAST, breaker=breaker)
    try:
        await asyncio.gather(*(client.set(f"key{n}", n) for n in range(10)))  # ten pooled connections
        killable_redis.kill()
        await asyncio.to_thread(killable_redis.start)

        started = time.monotonic()
        answers = await asyncio.gather(*(client.incr(f"counter{n}") for n in range(10)))
        elapsed = time.monotonic() - started
    finally:
        await client.aclose()

    assert answers == [1] * 10  # each stale connection was replaced, its command sent once more
    assert elapsed < 1.0
    assert breaker.state == "closed"


async def test_an_outage_of_a_private_redis_costs_only_the_first_failures(killable_redis: RedisServer) -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=60)
    client = redis_client(killable_redis.url, FAST, breaker=breaker)
    try:
        await client.ping()
        killable_redis.kill()
        outcomes = []
        for _ in range(20):
            try:
                await client.ping()
            except RedisConnectionError as error:
                outcomes.append(type(error) is CircuitOpenError)
    finally:
        await client.aclose()

    assert outcomes == [False] * 3 + [True] * 17


async def test_a_client_for_blocking_reads_pauses_before_failing_on_an_open_circuit() -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=60)
    breaker.failed(RedisConnectionError("down"))
    client = redis_client(CLOSED_PORT, FAST, socket_timeout=None, breaker=breaker)  # as the worker's job queue
    try:
        started = time.monotonic()
        with pytest.raises(CircuitOpenError):
            await client.blmove("queued", "active", 0)
        elapsed = time.monotonic() - started
    finally:
        await client.aclose()

    assert 0.4 < elapsed < 2.0  # a consumer's loop around it cannot spin
