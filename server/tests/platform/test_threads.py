"""`in_daemon_thread`: asyncio.to_thread's result and errors, without making the process wait for it at exit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lexica.platform.threads import in_daemon_thread


async def test_the_result_and_the_error_reach_the_caller() -> None:
    assert await in_daemon_thread(lambda: 6 * 7, name="answer") == 42

    def failing() -> None:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        await in_daemon_thread(failing, name="failing")


_PROGRAM = """
import asyncio, time
from lexica.platform.threads import in_daemon_thread

async def main():
    work = asyncio.ensure_future(in_daemon_thread(lambda: time.sleep(60), name="slow"))
    await asyncio.sleep(0.1)
    work.cancel()

asyncio.run(main())
"""


def test_a_process_does_not_wait_for_the_thread_when_it_exits() -> None:
    """A stopping instance used to wait, after it had finished serving, for a search index it would never use (the
    default executor's threads are joined at exit)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _PROGRAM], check=True, timeout=30)
    assert time.monotonic() - started < 10
