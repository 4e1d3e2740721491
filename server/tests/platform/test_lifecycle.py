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


async def _ignores_the_first_cancellation(ignored: list[int]) -> str:
    """Waits as a Redis follower does, but carries on after the first cancellation: Python 3.11's `asyncio.wait_for`
    (which redis-py sends every command through) drops a cancellation that arrives as its inner wait finishes."""
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        ignored.append(1)
    await asyncio.sleep(5)
    return "late"


async def test_the_drain_ends_a_bounded_wait_whose_first_cancellation_is_lost() -> None:
    lifecycle = Lifecycle()
    ignored: list[int] = []
    waiting = asyncio.ensure_future(lifecycle.wait_for(_ignores_the_first_cancellation(ignored), seconds=30))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    lifecycle.start_draining()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(waiting), timeout=2)  # the old code waited for the 5 s sleep
    assert ignored == [1]
    assert time.monotonic() - started < 1


async def test_a_bounded_wait_whose_first_cancellation_is_lost_still_ends_at_its_deadline() -> None:
    ignored: list[int] = []
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await Lifecycle().wait_for(_ignores_the_first_cancellation(ignored), seconds=0.05)
    assert ignored == [1]
    assert time.monotonic() - started < 1
