"""Prometheus metrics of one instance, with prometheus-client, correct across worker processes.

- **One process**: the metrics live in a registry of this app (several apps in one process — tests — each have
  their own).
- **Several worker processes** (`lexica serve --workers N`): the supervisor sets `PROMETHEUS_MULTIPROC_DIR`
  before it starts the workers (`lexica.platform.server`); prometheus-client then keeps each worker's values in
  a file there, and a scrape, whichever worker answers it, sums the files of every worker.

Counts the hot path already keeps as plain integers (the entry cache's `CacheStats`) are not counted twice: a
prometheus-client counter costs a lock per increment (an mmap write too with several workers), a cached lookup
would pay it on every request. `InstanceMetrics.sync` copies what changed into the counters instead, when this
process is scraped and once a second, so another worker's counts in a scrape are at most a second old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SYNC_SECONDS = 1.0
logger = logging.getLogger("lexica.metrics")


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """What an in-process cache has counted since start-up."""

    hits: int
    misses: int
    reads: int  # storage reads: one per miss (concurrent misses of one key share one), and fresh reads
    entries: int  # held now


def multiprocess_dir() -> str | None:
    """The directory of every worker's metric files when this process is one of several workers."""
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


class InstanceMetrics:
    """The metrics `GET /metrics` exposes for this instance."""

    def __init__(self, entry_cache: Callable[[], CacheCounts]) -> None:
        self._entry_cache = entry_cache
        self.registry = CollectorRegistry()
        shared_dir = multiprocess_dir()
        # With several workers the values are in files, and one collector reads them all; the metric objects
        # must then stay out of the registry (they would be counted twice).
        owner = None if shared_dir else self.registry
        if shared_dir:
            MultiProcessCollector(self.registry, path=shared_dir)  # type: ignore[no-untyped-call]
        self._hits = Counter(
            "lexica_entry_cache_hits", "Entry lookups answered from the in-process entry cache.", registry=owner
        )
        self._misses = Counter(
            "lexica_entry_cache_misses", "Entry lookups the in-process entry cache did not hold.", registry=owner
        )
        self._reads = Counter(
            "lexica_entry_cache_reads",
            "Storage reads of entries by lookups: for misses (concurrent misses of one entry share one read) and "
            "for lookups that asked for a fresh copy (Cache-Control: no-cache).",
            registry=owner,
        )
        self._entries = Gauge(
            "lexica_entry_cache_entries",
            "Entries held in the in-process entry caches (summed over live worker processes).",
            registry=owner,
            multiprocess_mode="livesum",
        )
        self._copied = CacheCounts(hits=0, misses=0, reads=0, entries=0)

    def sync(self) -> None:
        """Copy what the cache counted since the last call into the prometheus-client metrics."""
        now, before = self._entry_cache(), self._copied
        # A count that went down was reset (the cache was rebuilt): what it holds now is all new.
        for counter, current, previous in (
            (self._hits, now.hits, before.hits),
            (self._misses, now.misses, before.misses),
            (self._reads, now.reads, before.reads),
        ):
            counter.inc(current - previous if current >= previous else current)
        self._entries.set(now.entries)
        self._copied = now

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (0.0.4), this process's counts up to date."""
        self.sync()
        return generate_latest(self.registry)

    @asynccontextmanager
    async def syncing(self, every: float = SYNC_SECONDS) -> AsyncIterator[None]:
        """Copy the counts once every `every` seconds while the context is open (and once more on exit)."""
        task = asyncio.get_running_loop().create_task(self._sync_forever(every))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.sync()

    async def _sync_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                self.sync()
            except Exception:  # a metric must never take the instance down; say so and keep going
                logger.exception("could not update the metrics")
