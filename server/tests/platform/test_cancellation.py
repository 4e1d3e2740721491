"""`cancel_until_done` ends a task that drops a cancellation, as redis-py's calls can on Python 3.11."""

from __future__ import annotations

import asyncio

from lexica.platform.cancellation import cancel_until_done


async def test_a_task_that_drops_its_first_cancellation_is_cancelled_again_until_it_ends() -> None:
    dropped = 0

    async def stubborn() -> None:
        nonlocal dropped
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if dropped == 2:
                    raise
                dropped += 1  # what asyncio.wait_for does when its inner call finishes as it is cancelled

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_until_done(task)
    assert task.cancelled()
    assert dropped == 2


async def test_a_task_that_fails_has_its_error_retrieved_not_raised() -> None:
    async def failing() -> None:
        raise ValueError("a failure the caller does not want raised here")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_until_done(task)
    assert isinstance(task.exception(), ValueError)
