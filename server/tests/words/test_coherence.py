"""Two instances' words services over one database and one event bus: what one changes, the other stops serving from
its cache (edits and deletes within a bus read, imports by forgetting everything), and an outage of the bus makes
every instance start afresh. The in-process bus stands in for Redis except in the outage test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest

from bench.services import RedisServer
from lexica.platform.events import Event, EventBus, MemoryEventBus, RedisEventBus
from lexica.platform.pagination import CursorCodec
from lexica.platform.redis_client import RedisOptions
from lexica.storage.sql.database import create_engine
from lexica.words.coherence import Coherence, keeping_coherent
from lexica.words.service import DICTIONARY_TOPIC, ENTRIES_TOPIC, WordService, new_entry
from tests.conftest import TEST_SECRET
from tests.words.conftest import CountingRepository, parts

WORD = "xanthic"
BOUND_SECONDS = 1.0


@dataclass
class Instance:
    words: WordService
    repository: CountingRepository
    coherence: Coherence


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    events = MemoryEventBus()
    yield events
    await events.close()


async def start_instance(stack: AsyncExitStack, database: str, bus: EventBus) -> Instance:
    engine = create_engine(database)
    stack.push_async_callback(engine.dispose)
    repository = CountingRepository(engine)
    words = WordService(repository, CursorCodec(TEST_SECRET), cache_size=100, cache_ttl_seconds=60, events=bus)
    await words.rebuild_index()
    coherence = await stack.enter_async_context(keeping_coherent(bus, words, across_instances=True))
    return Instance(words, repository, coherence)


@pytest.fixture
async def pair(database: str, bus: EventBus) -> AsyncIterator[tuple[Instance, Instance]]:
    async with AsyncExitStack() as stack:
        yield await start_instance(stack, database, bus), await start_instance(stack, database, bus)


async def within(seconds: float, condition: Callable[[], object]) -> float:
    """How long `condition` (sync, or returning an awaitable) took to hold; fails past `seconds`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(seconds):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return loop.time() - started
            await asyncio.sleep(0.005)


async def test_an_edit_on_one_instance_reaches_the_others_cache(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    before = await b.words.entry(WORD)
    current = await a.words.entry(WORD)
    assert before is not None
    assert current is not None

    edited = await a.words.replace_entry(WORD, current.etag, WORD, parts("Edited on instance A."))

    async def b_serves_the_edit() -> bool:
        view = await b.words.entry(WORD)
        return view is not None and view.etag == edited.etag

    await within(BOUND_SECONDS, b_serves_the_edit)


async def test_a_delete_on_one_instance_reaches_the_others_cache_and_search(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    current = await b.words.entry(WORD)
    assert current is not None
    assert b.words.search(WORD, "exact", 5)

    await a.words.delete_entry(WORD, current.etag)

    async def b_has_forgotten() -> bool:
        return await b.words.entry(WORD) is None and b.words.search(WORD, "exact", 5) == []

    await within(BOUND_SECONDS, b_has_forgotten)


async def test_an_instance_skips_the_events_of_its_own_writes(pair: tuple[Instance, Instance], bus: EventBus) -> None:
    a, b = pair
    created = await a.words.create_entry("xxnew", parts("Created on instance A."))

    await within(BOUND_SECONDS, lambda: b.words.search("xxnew", "exact", 5))
    assert a.words.announced_here(await bus.position(ENTRIES_TOPIC))
    assert not b.words.announced_here(await bus.position(ENTRIES_TOPIC))
    assert a.repository.reads == 0  # B read the new entry for its index; A, whose write it was, did not
    assert (await a.words.entry("xxnew")) == created


async def test_a_search_made_while_the_change_was_read_is_not_kept(pair: tuple[Instance, Instance]) -> None:
    """B forgets what an `entry.changed` touched, then reads the entry for its index: a search B answered during
    that read came from the index without the change, and was kept (and replayed) for a minute."""
    a, b = pair
    assert b.words.search("xxduring", "exact", 5) == []
    b.repository.hold()
    await a.words.create_entry("xxduring", parts("Created while B reads."))
    await b.repository.held(1)  # B is reading it for its index
    assert b.words.search("xxduring", "exact", 5) == []  # not in B's index yet
    generation = b.words.generation
    b.repository.release()
    await within(BOUND_SECONDS, lambda: b.words.search("xxduring", "exact", 5))
    assert b.words.generation > generation  # what was replayed during the read is not replayed any more


async def test_an_import_makes_every_instance_forget_its_cache_and_rebuild_its_index(
    pair: tuple[Instance, Instance], bus: EventBus
) -> None:
    a, b = pair
    await b.words.entry(WORD)
    imported = [new_entry(WORD, parts("Imported.")), new_entry("xximported", parts("Imported too."))]
    await a.repository.upsert_many(imported, source="upload")  # what an import job's batches do

    await bus.publish(DICTIONARY_TOPIC, "dictionary.changed", {"job_id": "j1"})  # once, at the end of the job

    async def b_serves_the_import() -> bool:
        view = await b.words.entry(WORD)
        return view is not None and b"Imported." in view.body.data

    await within(BOUND_SECONDS, b_serves_the_import)
    await within(5, lambda: b.coherence.rebuilds == 1 and b.words.search("xximported", "exact", 5))


async def test_an_entry_event_not_understood_makes_the_instance_forget_everything(
    pair: tuple[Instance, Instance], bus: EventBus
) -> None:
    _, b = pair
    await b.words.entry(WORD)
    reads = b.repository.reads

    await bus.publish(ENTRIES_TOPIC, "entry.changed", {"type": "entry.changed", "headword": 42})

    await within(5, lambda: b.coherence.rebuilds == 1)
    await b.words.entry(WORD)
    assert b.repository.reads == reads + 1


OPTIONS = RedisOptions(socket_timeout=0.5, connect_timeout=0.5, breaker_failures=3, breaker_reset_seconds=0.2)


async def test_after_a_bus_outage_an_instance_forgets_what_it_may_have_missed(
    killable_redis: RedisServer, database: str
) -> None:
    bus = RedisEventBus(killable_redis.url, block_ms=200, options=OPTIONS)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(bus.close)
        b = await start_instance(stack, database, bus)
        await b.words.entry(WORD)
        reads = b.repository.reads

        killable_redis.kill()
        await asyncio.sleep(0.5)  # the followers' reads fail meanwhile; a write elsewhere would not be announced
        assert b.coherence.rebuilds == 0
        await asyncio.to_thread(killable_redis.start)

        await within(10, lambda: b.coherence.rebuilds >= 1)
        await b.words.entry(WORD)
        assert b.repository.reads == reads + 1


class CancellationDroppingBus(MemoryEventBus):
    """A bus whose reads drop the first cancellation they get, as a Redis read through redis-py can on Python 3.11
    (`asyncio.wait_for`, CPython gh-86296: the read finished in the same loop turn as the cancellation)."""

    def follow(
        self, topic: str, *, after: str | None, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        return self._reads()

    async def _reads(self) -> AsyncIterator[Event]:
        dropped = False
        while True:
            try:
                await asyncio.sleep(0.01)  # a read that returned nothing
            except asyncio.CancelledError:
                if dropped:
                    raise
                dropped = True
            if False:  # an async generator that never yields an event
                yield


async def test_stopping_ends_a_follower_whose_read_dropped_a_cancellation(database: str) -> None:
    """The follower went on reading after shutdown (one cancel, then a wait with a timeout), and the process's
    event loop could not close: CI hung at the teardown of a test whose app followed Redis."""
    bus = CancellationDroppingBus()
    async with AsyncExitStack() as stack:
        instance = await start_instance(stack, database, bus)
        followers = list(instance.coherence._tasks)  # what stopping must end
        assert followers
        await asyncio.sleep(0.05)  # each follower is inside a read when the instance stops
    assert all(task.done() for task in followers)
    await bus.close()
