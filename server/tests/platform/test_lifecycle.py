"""The instance's lifecycle: a wait bounded by a deadline also ends when the drain starts."""

from __future__ import annotations

import asyncio
import time

import pytest

from lexica.platform.lifecycle import Lifecycle


async def _answer_after(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


async def test_a_bounded_wait_returns_what_it_waited_for() -> None:
    assert await Lifecycle().wait_for(_answer_after(0.01, "event"), seconds=5) == "event"


async def test_a_bounded_wait_times_out_at_its_deadline() -> None:
    with pytest.raises(TimeoutError):
        await Lifecycle().wait_for(_answer_after(5, "late"), seconds=0.05)


async def test_the_drain_ends_a_bounded_wait_at_once() -> None:
    lifecycle = Lifecycle()
    waiting = asyncio.ensure_future(lifecycle.wait_for(_answer_after(5, "late"), seconds=30))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    lifecycle.start_draining()
    with pytest.raises(TimeoutError):
        await waiting
    assert time.monotonic() - started < 1
    assert lifecycle.draining


async def test_a_wait_begun_while_draining_ends_at_once() -> None:
    lifecycle = Lifecycle()
    lifecycle.start_draining()
    lifecycle.start_draining()  # idempotent
    with pytest.raises(TimeoutError):
        await lifecycle.wait_for(_answer_after(5, "late"), seconds=30)
