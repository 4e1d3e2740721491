"""Cancelling a task and waiting until it has really ended.

One cancellation is not always enough: up to Python 3.11, `asyncio.wait_for` returns its inner result and drops the
cancellation when both arrive in the same loop iteration (CPython gh-86296), and redis-py sends every command
through it (`Connection.send_packed_command`). A task cancelled at that moment goes on with its next Redis call as if
nothing had happened: a stream follower cancelled so went on reading for ever, so its event stream never ended with
`stream.reconnect`, and a WebSocket's never closed with 1001 (the server then cut both off when its grace period ran
out). `asyncio` has no helper that re-cancels; hence this one.
"""

from __future__ import annotations

import asyncio
from typing import Any

RECANCEL_SECONDS = 0.05  # how long a cancelled task is given to end before it is cancelled again


async def cancel_until_done(*tasks: asyncio.Future[Any]) -> None:
    """Cancels `tasks` and returns once every one has ended, cancelling again those that go on running. Their
    outcomes are retrieved (never logged as lost); if the caller is cancelled meanwhile, the tasks are cancelled
    once more and the caller's cancellation goes on."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError:
            for task in pending:
                task.cancel()  # we are cancelled ourselves: do not leave them running
            raise
    for task in tasks:
        if not task.cancelled():
            task.exception()
