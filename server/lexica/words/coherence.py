"""Keeping this instance's entry caches and search index in step with changes made on other instances.

Two topics are followed. `entries` carries the AsyncAPI `entry.changed` that every write through the API publishes:
the entry is forgotten (with every page and search) and the search index updated, within one bus read of the write
(Redis XREAD wakes on the event: milliseconds). It is followed only across instances, that is with Redis: on one
instance every write has already done this. The internal `dictionary` topic says an import changed entries (one
event per import, however many entries): everything is forgotten and the index rebuilt.

Publishing is best-effort (an event is lost while the bus is unreachable), so when following goes on after an outage
this instance also forgets everything and rebuilds its index: until then it may serve entries as they were before
the outage, for at most the cache's TTL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from lexica.platform.cancellation import cancel_until_done
from lexica.platform.events import LATEST, Event, EventBus
from lexica.words.service import DICTIONARY_TOPIC, ENTRIES_TOPIC, WordService

logger = logging.getLogger("lexica.words")

RETRY_SECONDS = 5.0  # after an unexpected failure of a follower
STOP_SECONDS = 2.0  # shutdown must not wait on a read the bus does not let go of
CHANGES = frozenset({"created", "updated", "deleted"})


class Coherence:
    """The followers of one instance; `start` them once the services exist, `stop` them at shutdown."""

    def __init__(self, bus: EventBus, words: WordService, *, across_instances: bool) -> None:
        self._bus = bus
        self._words = words
        self._across_instances = across_instances
        self._stale = asyncio.Event()  # the index must be rebuilt (requests coalesce while one rebuild runs)
        self._tasks: list[asyncio.Task[None]] = []
        self.rebuilds = 0

    async def start(self) -> None:
        """Start following from the topics' current positions, so that nothing published from now on is missed."""
        topics = [DICTIONARY_TOPIC] + ([ENTRIES_TOPIC] if self._across_instances else [])
        positions = await asyncio.gather(*(self._bus.position(topic) for topic in topics))
        for topic, after in zip(topics, positions, strict=True):
            self._tasks.append(asyncio.create_task(self._follow(topic, after), name=f"lexica-follower-{topic}"))
        self._tasks.append(asyncio.create_task(self._rebuild_when_stale(), name="lexica-index-rebuilder"))

    async def stop(self) -> None:
        """Ends every follower: cancelled again until it has ended (a Redis read may drop one cancellation:
        `lexica.platform.cancellation`), for at most STOP_SECONDS."""
        tasks, self._tasks = self._tasks, []
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await cancel_until_done(*tasks)
        except TimeoutError:
            logger.warning("a follower of the event bus did not stop in %g s", STOP_SECONDS)

    def forget_everything(self) -> None:
        """The dictionary changed in ways this instance cannot tell apart: drop every cache now, rebuild the index."""
        self._words.forget_cached()
        self._stale.set()

    async def _follow(self, topic: str, after: str) -> None:
        handle: Callable[[Event], Awaitable[None]] = (
            self._entry_changed if topic == ENTRIES_TOPIC else self._dictionary_changed
        )
        while True:
            try:
                async for event in self._bus.follow(topic, after=after, on_gap=self.forget_everything):
                    after = event.id
                    await handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # not the bus being down (it rides that out itself): log, start afresh shortly
                logger.warning(
                    "following %s failed; forgetting the caches, again in %g s", topic, RETRY_SECONDS, exc_info=True
                )
                self.forget_everything()
                after = LATEST
                await asyncio.sleep(RETRY_SECONDS)

    async def _entry_changed(self, event: Event) -> None:
        if self._words.announced_here(event.id):
            return
        headword, change = event.payload.get("headword"), event.payload.get("change")
        if not isinstance(headword, str) or change not in CHANGES:
            logger.warning("entry.changed %s not understood: forgetting every cached entry", event.id)
            self.forget_everything()
            return
        try:
            await self._words.changed_elsewhere(headword, str(change))
        except Exception:  # forgotten already; only the index's update (it reads the entry) failed
            logger.warning("search index not updated for %r", headword, exc_info=True)

    async def _dictionary_changed(self, event: Event) -> None:
        self.forget_everything()

    async def _rebuild_when_stale(self) -> None:
        while True:
            await self._stale.wait()
            self._stale.clear()
            try:
                indexed = await self._words.rebuild_index()
            except Exception:  # storage unreachable: the old index serves until the next change or outage
                logger.warning("search index not rebuilt", exc_info=True)
                continue
            self.rebuilds += 1
            logger.info("dictionary changed: search index rebuilt (%d)", indexed)


@asynccontextmanager
async def keeping_coherent(bus: EventBus, words: WordService, *, across_instances: bool) -> AsyncIterator[Coherence]:
    coherence = Coherence(bus, words, across_instances=across_instances)
    await coherence.start()
    try:
        yield coherence
    finally:
        await coherence.stop()
