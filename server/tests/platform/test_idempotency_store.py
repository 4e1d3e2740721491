"""The Idempotency-Key stores: a claim is a short lease its holder renews; only the holder completes or releases it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from lexica.platform.idempotency_store import (
    Claimed,
    Done,
    IdempotencyStore,
    InFlight,
    MemoryIdempotencyStore,
    RedisIdempotencyStore,
)
from tests.platform.private_redis import private_redis

LEASE = 0.3


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore(ttl_seconds=60, lease_seconds=LEASE)
        return
    with private_redis() as server:
        client = Redis.from_url(server.url)
        try:
            yield RedisIdempotencyStore(client, ttl_seconds=60, lease_seconds=LEASE)
        finally:
            await client.aclose()


async def claimed(store: IdempotencyStore, key: str) -> Claimed:
    claim = await store.claim(key)
    assert isinstance(claim, Claimed)
    return claim


async def test_a_claimed_key_is_in_flight_for_others(store: IdempotencyStore) -> None:
    await claimed(store, "k")
    assert isinstance(await store.claim("k"), InFlight)


async def test_a_claim_that_is_not_renewed_lapses_after_its_lease(store: IdempotencyStore) -> None:
    """A process that died mid-request frees its key within one lease, not after the full retention."""
    await claimed(store, "k")
    await asyncio.sleep(LEASE * 1.5)
    assert isinstance(await store.claim("k"), Claimed)


async def test_a_renewed_claim_outlives_its_first_lease(store: IdempotencyStore) -> None:
    claim = await claimed(store, "k")
    for _ in range(3):
        await asyncio.sleep(LEASE / 2)
        assert await store.renew("k", claim)
    assert isinstance(await store.claim("k"), InFlight)


async def test_a_completed_key_keeps_its_record_past_the_lease(store: IdempotencyStore) -> None:
    claim = await claimed(store, "k")
    assert await store.complete("k", claim, b"sealed record")
    await asyncio.sleep(LEASE * 1.5)
    assert await store.claim("k") == Done(b"sealed record")


async def test_only_the_holder_completes_or_releases_a_claim(store: IdempotencyStore) -> None:
    await claimed(store, "k")
    await asyncio.sleep(LEASE * 1.5)
    current = await claimed(store, "k")
    stale = Claimed(b"a lapsed claim's token")
    assert not await store.complete("k", stale, b"late")
    await store.release("k", stale)
    assert not await store.renew("k", stale)
    assert isinstance(await store.claim("k"), InFlight)
    await store.release("k", current)
    assert isinstance(await store.claim("k"), Claimed)
