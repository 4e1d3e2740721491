"""The Redis event bus when Redis goes away: publishing after a committed write is best-effort (logged, never
raised), and followers keep their place and carry on once Redis is back. Against a private redis-server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from bench.services import RedisServer
from lexica.platform.cancellation import cancel_until_done
from lexica.platform.events import UNPUBLISHED, Event, MemoryEventBus, RedisEventBus
from lexica.platform.redis_client import RedisOptions

OPTIONS = RedisOptions(socket_timeout=0.5, connect_timeout=0.5, breaker_failures=3, breaker_reset_seconds=0.2)


@pytest.fixture
async def bus(killable_redis: RedisServer) -> AsyncIterator[RedisEventBus]:
    events = RedisEventBus(killable_redis.url, block_ms=200, options=OPTIONS)
    try:
        yield events
    finally:
        await events.close()


async def test_publishing_with_redis_down_logs_once_and_does_not_raise(
    killable_redis: RedisServer, bus: RedisEventBus, caplog: pytest.LogCaptureFixture
) -> None:
    killable_redis.kill()

    with caplog.at_level(logging.WARNING, logger="lexica.events"):
        ids = [await bus.publish("list:1", "list.changed", {"n": n}) for n in range(5)]

    assert ids == [UNPUBLISHED] * 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "lexica.events"]
    assert len(warnings) == 1
    assert "not published" in warnings[0]


async def test_a_follower_rides_out_an_outage_and_resumes_after_the_last_event(
    killable_redis: RedisServer, bus: RedisEventBus
) -> None:
    seen: list[Event] = []
    first = asyncio.Event()

    async def follow() -> None:
        async for event in bus.follow("list:1", after=None):
            seen.append(event)
            first.set()
            if len(seen) == 2:
                return

    follower = asyncio.create_task(follow())
    await bus.publish("list:1", "list.changed", {"n": 1})
    await asyncio.wait_for(first.wait(), timeout=3)
    killable_redis.kill()
    await asyncio.sleep(0.5)  # the follower's reads fail meanwhile
    await asyncio.to_thread(killable_redis.start)
    published = UNPUBLISHED
    for _ in range(30):  # until the circuit lets calls through again
        published = await bus.publish("list:1", "list.changed", {"n": 2})
        if published != UNPUBLISHED:
            break
        await asyncio.sleep(0.1)
    await asyncio.wait_for(follower, timeout=3)

    assert published != UNPUBLISHED
    assert [event.payload["n"] for event in seen] == [1, 2]


async def test_a_follower_is_told_once_when_it_follows_again_after_an_outage(
    killable_redis: RedisServer, bus: RedisEventBus
) -> None:
    gaps_seen: list[int] = []  # gaps counted when each event arrived
    gaps = 0

    def gap() -> None:
        nonlocal gaps
        gaps += 1

    first = asyncio.Event()

    async def follow() -> None:
        async for _event in bus.follow("list:1", after=None, on_gap=gap):
            gaps_seen.append(gaps)
            first.set()
            if len(gaps_seen) == 2:
                return

    follower = asyncio.create_task(follow())
    await bus.publish("list:1", "list.changed", {"n": 1})
    await asyncio.wait_for(first.wait(), timeout=3)
    killable_redis.kill()
    await asyncio.sleep(0.5)  # several failed reads: still one gap
    await asyncio.to_thread(killable_redis.start)
    for _ in range(30):
        if await bus.publish("list:1", "list.changed", {"n": 2}) != UNPUBLISHED:
            break
        await asyncio.sleep(0.1)
    await asyncio.wait_for(follower, timeout=3)

    assert gaps_seen == [0, 1]


async def test_the_in_process_bus_keeps_a_bounded_number_of_topics() -> None:
    bus = MemoryEventBus(history=5, max_topics=3)
    for n in range(10):
        await bus.publish(f"list:{n}", "list.changed", {"n": n})

    follower = bus.follow("list:9", after=None)
    assert (await anext(follower)).payload == {"n": 9}
    dropped = bus.follow("list:0", after=None)  # its history went first; following it just waits
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await anext(dropped)


async def test_the_in_process_bus_forgets_a_topic_idle_past_its_ttl() -> None:
    bus = MemoryEventBus(ttl_seconds=0.05)
    await bus.publish("list:a", "list.changed", {"n": 1})
    await asyncio.sleep(0.1)
    await bus.publish("list:b", "list.changed", {"n": 2})  # any write expires what is due

    idle = bus.follow("list:a", after=None)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await anext(idle)


async def _position_then_late_follower(bus: MemoryEventBus | RedisEventBus) -> list[int]:
    await bus.publish("list:7", "list.changed", {"n": 0})  # before the position: not wanted
    start = await bus.position("list:7")
    for n in (1, 2):  # published before the follower's first read
        await bus.publish("list:7", "list.changed", {"n": n})
    seen: list[int] = []
    async with asyncio.timeout(3):
        async for event in bus.follow("list:7", after=start):
            seen.append(event.payload["n"])
            if len(seen) == 2:
                break
    return seen


async def test_a_follower_from_a_position_gets_what_was_published_before_it_started() -> None:
    assert await _position_then_late_follower(MemoryEventBus()) == [1, 2]


async def test_a_redis_follower_from_a_position_gets_what_was_published_before_it_started(
    bus: RedisEventBus,
) -> None:
    assert await _position_then_late_follower(bus) == [1, 2]


async def test_the_position_of_a_topic_without_events_is_its_beginning(bus: RedisEventBus) -> None:
    assert await MemoryEventBus().position("list:none") == "0-0"
    assert await bus.position("list:none") == "0-0"


async def _followed_and_counted(bus: MemoryEventBus | RedisEventBus) -> None:
    """A follower is counted while it follows; a live event's delivery lag is measured, replayed history is not."""
    await bus.publish("entries", "entry.changed", {"n": 0})  # history by the time the follower starts
    received: list[Event] = []
    arrived = asyncio.Event()

    async def follow() -> None:
        async for event in bus.follow("entries", after=None):
            received.append(event)
            arrived.set()

    follower = asyncio.create_task(follow())
    async with asyncio.timeout(10):
        await arrived.wait()
        assert bus.tally.followers == 1
        assert bus.tally.lag.count == 0  # the replayed event is history, not lag
        await asyncio.sleep(0.02)
        arrived.clear()
        await bus.publish("entries", "entry.changed", {"n": 1})
        await arrived.wait()
    await cancel_until_done(follower)  # redis-py may drop one cancellation (lexica.platform.cancellation)
    assert bus.tally.published == 2
    assert bus.tally.lag.count == 1
    assert 0 <= bus.tally.lag.seconds < 5
    assert bus.tally.followers == 0


async def test_the_memory_bus_counts_followers_and_the_lag_of_live_events() -> None:
    await _followed_and_counted(MemoryEventBus())


async def test_the_redis_bus_counts_followers_and_the_lag_of_live_events(bus: RedisEventBus) -> None:
    await _followed_and_counted(bus)
