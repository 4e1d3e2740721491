"""The event bus: named events on topics, kept for replay, delivered to subscribers on every instance.

Topics are `job:<id>`, `list:<id>` and `entries`. Each published event gets an id that orders it within its topic;
a subscriber that passes the last id it saw (an SSE `Last-Event-ID`) receives every later event and misses none.

Two adapters: Redis Streams when Redis is configured (one stream per topic, shared by every API instance and worker;
XREAD blocks for new entries, so nothing polls), or an in-process bus. Pub/sub alone would lose what was published
while a client reconnected; streams keep a bounded history per topic (MAXLEN, and a TTL refreshed on each write).

Events are published after the change they announce is committed, so publishing is best-effort: with Redis
unreachable, `publish` logs and returns an empty id instead of raising (a write that happened must never answer
5xx), and followers keep trying to read, resuming after the last event they saw, until Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import TTLCache
from redis.exceptions import RedisError

from lexica.platform.observations import Observations
from lexica.platform.redis_client import RedisOptions, redis_client
from lexica.platform.sparse_warnings import SparseWarning

logger = logging.getLogger("lexica.events")

HISTORY_PER_TOPIC = 10_000
MEMORY_TOPICS = 10_000  # topics one process keeps history for (the in-process bus only)
LATEST = "$"  # `follow(after=LATEST)`: skip the history
HISTORY_TTL_SECONDS = 24 * 3600
UNPUBLISHED = ""  # the id `publish` returns for an event Redis did not take
FOLLOW_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    id: str  # orders events within the topic; opaque to clients
    name: str  # the AsyncAPI message name, e.g. "job.progress"
    payload: Mapping[str, Any]
    published_at: float = 0.0  # Unix time (Redis: its clock, from the stream id)


# How late a live event reaches a follower: from under a millisecond (one process) to seconds (a Redis outage).
EVENT_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BusTally:
    """What the metrics show of this process's use of the bus: events published, followers now (event streams,
    WebSocket subscriptions, the cache's change listener), and how late live events reach them — from their
    publication, on whichever instance, to their delivery here (replayed history is not lag, and is not counted)."""

    def __init__(self) -> None:
        self.published = 0
        self.followers = 0
        self.lag = Observations(EVENT_LAG_BUCKETS)

    async def counted(self, events: AsyncGenerator[Event, None]) -> AsyncIterator[Event]:
        """`events` (one follower's), counted as a follower while followed, each live event's lag noted."""
        since = time.time()
        self.followers += 1
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if event.published_at >= since:
                        self.lag.add(max(time.time() - event.published_at, 0.0))
                    yield event
        finally:
            self.followers -= 1


class Publisher(Protocol):
    """What announcing a change needs of the bus (a job's worker process publishes through its parent's bus)."""

    async def publish(self, topic: str, name: str, payload: Mapping[str, Any]) -> str:
        """Append an event to the topic; its id (`UNPUBLISHED` when the bus is unreachable: never raises for that)."""
        ...


class EventBus(Publisher, Protocol):
    tally: BusTally

    async def position(self, topic: str) -> str:
        """The id of the topic's newest event ("0-0" when it has none): `follow(after=position)` yields every event
        published after this call, however late the follower starts; `LATEST` when the bus cannot say."""
        ...

    def follow(
        self, topic: str, *, after: str | None, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        """Every event of the topic after `after` (from the start of the kept history when None; only events published
        from now on for `LATEST`), then new ones as they are published, until the consumer stops iterating.

        `on_gap` is called when following goes on after the bus was unreachable: events meant for that time may never
        have been published (publishing is best-effort), so a follower that must not miss one starts afresh."""
        ...

    async def discard(self, topic: str) -> None:
        """Drop the topic's history: its subject is gone (a job deleted). Best-effort, like publishing."""
        ...

    async def close(self) -> None: ...


class MemoryEventBus:
    """One process's bus: a bounded history per topic and a condition that wakes the followers.

    Memory is bounded like the Redis streams: a topic's history expires `HISTORY_TTL_SECONDS` after its last
    event, and at most `max_topics` are kept (the least recently written go first); a follower of a dropped topic
    just waits for its next event.
    """

    def __init__(
        self,
        history: int = HISTORY_PER_TOPIC,
        *,
        max_topics: int = MEMORY_TOPICS,
        ttl_seconds: float = HISTORY_TTL_SECONDS,
    ) -> None:
        self._topics: TTLCache[str, deque[Event]] = TTLCache(max_topics, ttl_seconds)
        self._sequence = itertools.count(1)
        self._changed = asyncio.Condition()
        self._history = history
        self.tally = BusTally()

    def forget(self, topic: str) -> None:
        """Drop the topic's history: its subject is gone (a job deleted by retention). Redis streams expire instead."""
        self._topics.pop(topic, None)

    async def discard(self, topic: str) -> None:
        self.forget(topic)

    async def publish(self, topic: str, name: str, payload: Mapping[str, Any]) -> str:
        event = Event(
            topic=topic, id=f"{next(self._sequence)}-0", name=name, payload=dict(payload), published_at=time.time()
        )
        self.tally.published += 1
        kept = self._topics.get(topic)
        if kept is None:
            kept = deque(maxlen=self._history)
        kept.append(event)
        self._topics[topic] = kept  # (re)sets the topic's expiry and recency
        async with self._changed:
            self._changed.notify_all()
        return event.id

    async def position(self, topic: str) -> str:
        kept = self._topics.get(topic)
        return kept[-1].id if kept else "0-0"

    def follow(
        self, topic: str, *, after: str | None, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        if after == LATEST:  # one process's bus is never unreachable: no gaps, `on_gap` is never called
            kept = self._topics.get(topic)
            last = _sequence_of(kept[-1].id) if kept else 0
        else:
            last = _sequence_of(after)
        return self.tally.counted(self._read(topic, last))

    async def _read(self, topic: str, last: int) -> AsyncGenerator[Event, None]:
        while True:
            pending = [event for event in self._topics.get(topic, ()) if _sequence_of(event.id) > last]
            for event in pending:
                last = _sequence_of(event.id)
                yield event
            if not pending:
                async with self._changed:
                    await self._changed.wait()

    async def close(self) -> None:
        return None


def _sequence_of(event_id: str | None) -> int:
    """The leading number of an id (`<n>-0`); ids that are not ours sort first."""
    if not event_id:
        return 0
    head = event_id.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


class RedisEventBus:
    """Redis Streams: `lexica:events:<topic>`; the stream entry id is the event id (`<ms>-<n>`, increasing).

    It has its own clients: followers block in XREAD for up to `block_ms`, longer than the socket timeout of quick
    commands, so following has a client with a longer timeout; publishing keeps the short one (with Redis frozen, a
    publish must not wait for seconds).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = "lexica:events:",
        block_ms: int = 1_000,
        options: RedisOptions | None = None,
    ) -> None:
        options = options or RedisOptions()
        self._redis = redis_client(redis_url, options, socket_timeout=block_ms / 1000 + (options.socket_timeout or 5))
        self._publisher = redis_client(redis_url, options)
        self._prefix = prefix
        self._block_ms = block_ms
        self.tally = BusTally()
        self._warning = SparseWarning(logger)

    def _unavailable(self, what: str, exc: RedisError) -> None:
        self._warning.warn("event bus unavailable, %s: %r", what, exc)

    def _key(self, topic: str) -> str:
        return f"{self._prefix}{topic}"

    async def publish(self, topic: str, name: str, payload: Mapping[str, Any]) -> str:
        key = self._key(topic)
        fields = {"name": name, "payload": json.dumps(payload, separators=(",", ":"), default=str)}
        try:
            async with self._publisher.pipeline(transaction=True) as pipe:
                pipe.xadd(key, fields, maxlen=HISTORY_PER_TOPIC, approximate=True)  # type: ignore[arg-type]
                pipe.expire(key, HISTORY_TTL_SECONDS)
                event_id, _ = await pipe.execute()
        except RedisError as exc:
            self._unavailable(f"{name} on {topic} not published", exc)
            return UNPUBLISHED
        self.tally.published += 1
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    async def discard(self, topic: str) -> None:
        try:
            await self._publisher.delete(self._key(topic))
        except RedisError as exc:  # the stream expires by itself (HISTORY_TTL_SECONDS)
            self._unavailable(f"{topic} not discarded", exc)

    async def position(self, topic: str) -> str:
        try:
            newest: Any = await self._publisher.xrevrange(self._key(topic), "+", "-", count=1)
        except RedisError as exc:
            self._unavailable(f"no position in {topic}", exc)
            return LATEST
        return _text(newest[0][0]) if newest else "0-0"

    def follow(
        self, topic: str, *, after: str | None, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        last: str | None = None if after == LATEST else _valid_stream_id(after) or "0-0"
        return self.tally.counted(self._read(self._key(topic), topic, last, on_gap))

    async def _read(
        self, key: str, topic: str, last: str | None, on_gap: Callable[[], None] | None
    ) -> AsyncGenerator[Event, None]:
        failed = False
        while True:
            try:
                if last is None:  # the current last id, so that nothing published between two reads is skipped
                    newest: Any = await self._redis.xrevrange(key, "+", "-", count=1)
                    last = _text(newest[0][0]) if newest else "0-0"
                # XREAD returns at once when there is history after `last`, else blocks until the next event.
                found: Any = await self._redis.xread({key: last}, count=500, block=self._block_ms)
            except RedisError as exc:  # Redis is down or restarting: keep the place and try again
                self._unavailable(f"following {topic} again in {FOLLOW_RETRY_SECONDS:g} s", exc)
                failed = True
                await asyncio.sleep(FOLLOW_RETRY_SECONDS)
                continue
            if failed:
                failed = False
                if on_gap is not None:
                    on_gap()
            for _stream, entries in found or ():
                for raw_id, fields in entries:
                    last = _text(raw_id)
                    yield Event(
                        topic=topic,
                        id=last,
                        name=_text(fields[b"name"]),
                        payload=json.loads(fields[b"payload"]),
                        published_at=_sequence_of(last) / 1000,  # a stream id starts with Redis's clock, in ms
                    )

    async def close(self) -> None:
        await self._publisher.aclose()
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _valid_stream_id(event_id: str | None) -> str | None:
    """A Redis stream id (`<ms>-<n>`) or None: a client's Last-Event-ID is not trusted to be well formed."""
    if not event_id:
        return None
    head, _, tail = event_id.partition("-")
    if head.isdigit() and tail.isdigit() and len(event_id) <= 40:
        return event_id
    return None


def build_event_bus(redis_url: str | None, options: RedisOptions | None = None) -> EventBus:
    return RedisEventBus(redis_url, options=options) if redis_url else MemoryEventBus()
