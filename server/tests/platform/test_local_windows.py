"""The in-process sliding-window counters give the same answers as `limits`' MemoryStorage, hit for hit."""

from __future__ import annotations

import random

import limits
import pytest
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from lexica.platform.local_windows import SWEEP_SECONDS, LocalSlidingWindows


@pytest.mark.parametrize("seed", range(5))
async def test_every_hit_and_window_equals_limits_memory_storage(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    now = 1_700_000_000.0 + rng.random() * 60
    monkeypatch.setattr("limits.aio.storage.memory.time.time", lambda: now)
    storage = MemoryStorage()
    strategy = SlidingWindowCounterRateLimiter(storage)
    item = limits.parse("7/10 seconds")
    ours = LocalSlidingWindows(clock=lambda: now)
    try:
        for _ in range(400):
            now += rng.expovariate(1.5)  # bursts and gaps across many window boundaries
            client = rng.choice(["a", "b"])
            expected_allowed = await strategy.hit(item, "anonymous", client)
            expected = await storage.get_sliding_window(item.key_for("anonymous", client), item.get_expiry())
            allowed, window = ours.hit(f"anonymous/{client}", item.amount, item.get_expiry())
            assert allowed == expected_allowed
            assert window[0] == expected[0]
            assert window[2] == expected[2]
            assert window[1] == pytest.approx(expected[1])
            assert window[3] == pytest.approx(expected[3])
    finally:
        if storage.timer is not None:
            storage.timer.cancel()


def test_windows_that_no_longer_count_are_dropped() -> None:
    now = 1_000.0
    windows = LocalSlidingWindows(clock=lambda: now)
    for client in range(100):
        windows.hit(f"anonymous/{client}", 5, 60)
    assert len(windows) == 100
    now += 2 * 60 + SWEEP_SECONDS  # two windows later: neither current nor previous
    windows.hit("anonymous/late", 5, 60)
    assert len(windows) == 1
