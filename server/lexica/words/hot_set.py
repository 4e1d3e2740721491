"""The hot set: which headwords are looked up most, remembered across restarts and loaded into the cache at start-up.

Counting every lookup would cost the hot path a dictionary write per request, so the entry cache counts a sample
(one lookup in `SAMPLE_EVERY`, hits and misses alike): enough to rank the few thousand words a Zipf-like workload
asks for most. The ranking is saved every few minutes and at shutdown — in Redis when configured (one list shared by
every instance, so a new instance starts with the fleet's hot set), else in a small JSON file — and read back at
start-up; with nothing saved yet, the entries with the most definitions (the commonest words) stand in for it.
Warming runs in the background: readiness does not wait for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from lexica.platform.cancellation import cancel_until_done

if TYPE_CHECKING:
    from lexica.words.service import WordService

logger = logging.getLogger("lexica.words")

SAMPLE_EVERY = 16  # a power of two: the cache tests `count & (SAMPLE_EVERY - 1)`
REDIS_KEY = "lexica:hot-headwords"
KEPT_SECONDS = 30 * 86_400  # a saved hot set older than this is not worth warming
SAVE_TIMEOUT_SECONDS = 2.0  # shutdown must not wait longer on a store that does not answer


class Popularity:
    """Sampled lookup counts per key, bounded to about `2 * capacity` keys (the rarest are dropped)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._counts: Counter[str] = Counter()
        self._capacity = capacity

    def note(self, key: str) -> None:
        self._counts[key] += 1
        if len(self._counts) > 2 * self._capacity:
            self._counts = Counter(dict(self._counts.most_common(self._capacity)))

    def seed(self, keys: Sequence[str]) -> None:
        """Start from a saved ranking: each key counts once, in order, so that real lookups soon decide."""
        for key in keys:
            self._counts.setdefault(key, 1)

    def top(self, count: int) -> list[str]:
        return [key for key, _ in self._counts.most_common(count)]


class HotSetStore(Protocol):
    async def load(self) -> list[str]:
        """The saved keys, most requested first; empty when none are saved or the store cannot be read."""
        ...

    async def save(self, keys: Sequence[str]) -> None: ...


class RedisHotSetStore:
    """One JSON list under `REDIS_KEY`, shared by every instance; the last instance to save wins."""

    def __init__(self, redis: Redis, key: str = REDIS_KEY) -> None:
        self._redis = redis
        self._key = key

    async def load(self) -> list[str]:
        try:
            raw = await self._redis.get(self._key)
        except RedisError as exc:
            logger.warning("hot set not read from Redis: %r", exc)
            return []
        return _keys(raw)

    async def save(self, keys: Sequence[str]) -> None:
        try:
            await self._redis.set(self._key, json.dumps(list(keys)), ex=KEPT_SECONDS)
        except RedisError as exc:
            logger.warning("hot set not saved to Redis: %r", exc)


class FileHotSetStore:
    """A JSON list in a file of this instance's own, replaced whole on each save."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def load(self) -> list[str]:
        try:
            raw = await asyncio.to_thread(self._path.read_bytes)
        except FileNotFoundError:
            return []
        except OSError as exc:
            logger.warning("hot set not read from %s: %r", self._path, exc)
            return []
        return _keys(raw)

    async def save(self, keys: Sequence[str]) -> None:
        try:
            await asyncio.to_thread(self._write, json.dumps(list(keys)).encode())
        except OSError as exc:
            logger.warning("hot set not saved to %s: %r", self._path, exc)

    def _write(self, data: bytes) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_name(f".{self._path.name}.{os.getpid()}")
        partial.write_bytes(data)
        partial.replace(self._path)  # readers see the old list or the new one, never half of one


def _keys(raw: bytes | str | None) -> list[str]:
    """The saved list, or empty when it is missing or not a list of strings (never trusted to be well formed)."""
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [key for key in value if isinstance(key, str)] if isinstance(value, list) else []


def hot_set_store(redis: Redis | None, path: Path) -> HotSetStore:
    return RedisHotSetStore(redis) if redis is not None else FileHotSetStore(path)


@asynccontextmanager
async def keeping_hot_set(
    words: WordService, store: HotSetStore, *, count: int, save_every_seconds: float = 300.0
) -> AsyncIterator[asyncio.Task[int] | None]:
    """Warm the cache with the saved hot set in the background; save the ranking periodically and on exit.

    Yields the warming task (None when `count` is 0), so that callers and tests can wait for it."""
    if count <= 0:
        yield None
        return
    saved = await store.load()
    words.popularity.seed(saved[:count])
    keys = saved[:count] or words.heaviest(count)

    async def warm() -> int:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            warmed = await words.warm(keys)
        except Exception:  # storage unreachable: the cache fills as requests come, as it would without warming
            logger.warning("cache not warmed", exc_info=True)
            return 0
        source = "saved hot set" if saved else "commonest headwords"
        logger.info("cache warmed with %d entries (%s) in %.2f s", warmed, source, loop.time() - started)
        return warmed

    async def save_periodically() -> None:
        while True:
            await asyncio.sleep(save_every_seconds)
            await _save(words, store, count)

    warming = asyncio.create_task(warm(), name="lexica-cache-warming")
    saving = asyncio.create_task(save_periodically(), name="lexica-hot-set-saver")
    try:
        yield warming
    finally:
        try:  # cancelled again until they end: a Redis call may drop one cancellation (lexica.platform.cancellation)
            async with asyncio.timeout(SAVE_TIMEOUT_SECONDS):
                await cancel_until_done(warming, saving)
        except TimeoutError:
            logger.warning("hot set tasks did not stop in %g s", SAVE_TIMEOUT_SECONDS)
        try:
            async with asyncio.timeout(SAVE_TIMEOUT_SECONDS):
                await _save(words, store, count)
        except TimeoutError:
            logger.warning("hot set not saved at shutdown: the store did not answer in %g s", SAVE_TIMEOUT_SECONDS)


async def _save(words: WordService, store: HotSetStore, count: int) -> None:
    if top := words.popularity.top(count):
        await store.save(top)
