"""Sockets per user counted across instances in a real Redis (a private `redis-server`, so it can be killed), and the
per-socket message rate."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from lexica.realtime.limits import MessageRate, SocketSlots
from tests.platform.private_redis import PrivateRedis, private_redis


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


async def test_the_socket_cap_holds_across_instances(own_redis: PrivateRedis) -> None:
    first_client, second_client = Redis.from_url(own_redis.url), Redis.from_url(own_redis.url)
    try:
        first, second = SocketSlots(3, first_client), SocketSlots(3, second_client)  # two API instances
        held = [await first.acquire("ada"), await second.acquire("ada"), await first.acquire("ada")]
        assert all(held)
        assert await second.acquire("ada") is None  # the fourth, on either instance
        assert await first.acquire("bob") is not None  # per user
        await first.release(held[0])  # type: ignore[arg-type]
        assert await second.acquire("ada") is not None
    finally:
        await first_client.aclose()
        await second_client.aclose()


async def test_live_sockets_count_again_after_redis_lost_its_data(own_redis: PrivateRedis) -> None:
    client = Redis.from_url(own_redis.url)
    try:
        slots = SocketSlots(1, client)
        slot = await slots.acquire("ada")
        assert slot is not None
        await client.flushall()
        await slots.refresh(slot)
        assert await SocketSlots(1, client).acquire("ada") is None  # another instance sees the live socket again
    finally:
        await client.aclose()


async def test_without_redis_each_instance_still_caps_its_own_sockets(own_redis: PrivateRedis) -> None:
    client = Redis.from_url(own_redis.url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        slots = SocketSlots(2, client)
        kept = await slots.acquire("ada")
        own_redis.kill()
        assert await slots.acquire("ada") is not None  # Redis down: counted in process instead of refused
        assert await slots.acquire("ada") is None  # and the per-instance cap still holds
        assert kept is not None
        await slots.release(kept)  # releasing does not raise either
        assert slots.open_sockets("ada") == 1
    finally:
        await client.aclose()


def test_the_message_rate_allows_a_burst_then_its_rate() -> None:
    rate = MessageRate(per_second=20, burst=3)
    assert [rate.allow() for _ in range(4)] == [True, True, True, False]
    time.sleep(0.06)  # one more message's worth
    assert rate.allow()
    assert not rate.flooding
    refused = [rate.allow() for _ in range(4)]
    assert not any(refused)
    assert rate.flooding  # a fourth refusal in a row, past the burst of three
