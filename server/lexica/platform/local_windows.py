"""Sliding-window counters in this process's memory, for the rate limiter without Redis (and while Redis is down).

The arithmetic is that of `limits`' `MemoryStorage` (`acquire_sliding_window_entry`, `get_sliding_window`), so
quotas and `RateLimit` headers read the same in memory as in Redis. It is written here rather than used from
`limits` because that storage is asynchronous with a lock, string keys built per call and an error wrapper around
every method: about a quarter of a cached lookup's cost (profiled with `bench.hot_path --profile`). Here one hit is
two dict reads and one write, with no await, so concurrent requests cannot interleave inside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

SWEEP_SECONDS = 10.0  # how often windows that no longer count are dropped

Window = tuple[int, float, int, float]  # previous count, previous TTL, current count, current TTL (as `limits`)


class LocalSlidingWindows:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}  # (client key, window length, window index) -> hits
        self._clock = clock
        self._next_sweep = 0.0

    def hit(self, key: str, limit: int, expiry: int) -> tuple[bool, Window]:
        """Counts one request of `key` against `limit` per `expiry` seconds if it fits; the window after it."""
        now = self._clock()
        index = int(now / expiry)
        previous = self._counts.get((key, expiry, index - 1), 0)
        current = self._counts.get((key, expiry, index), 0)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        allowed = math.floor(previous * previous_ttl / expiry + current) + 1 <= limit
        if allowed:
            current += 1
            self._counts[(key, expiry, index)] = current
        if now >= self._next_sweep:
            self._sweep(now)
        return allowed, (previous, previous_ttl, current, current_ttl)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        stale = [slot for slot in self._counts if slot[2] < int(now / slot[1]) - 1]
        for slot in stale:
            del self._counts[slot]

    def __len__(self) -> int:
        return len(self._counts)
