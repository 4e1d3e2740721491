"""The instance's lifecycle as the app sees it: serving, then draining once a shutdown has been asked for.

Draining comes before the server stops: readiness answers 503 (so a load balancer stops sending new work), event
streams end with their declared reconnect message, WebSockets close with 1001 (going away), and the server then
finishes in-flight requests within its grace period. One object per app, held by the lifespan state; the server
(`lexica.platform.server`) starts the drain when it receives SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from lexica.platform.cancellation import cancel_until_done

T = TypeVar("T")


class Lifecycle:
    def __init__(self) -> None:
        self._draining = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def start_draining(self) -> None:
        """Idempotent: the first call starts the drain; later calls change nothing."""
        self._draining.set()

    async def wait_draining(self) -> None:
        """Returns once the instance is draining (at once if it already is)."""
        await self._draining.wait()

    async def wait_for(self, awaitable: Awaitable[T], seconds: float) -> T:
        """`asyncio.wait_for`, except that the drain starting ends the wait too: both raise `TimeoutError`.

        For loops that already end on a deadline (an event stream's lifetime): draining is treated the same way.
        The awaitable has ended when this returns or raises (it is cancelled unless it finished first).
        """
        task = asyncio.ensure_future(awaitable)
        if self.draining:
            await cancel_until_done(task)
            raise TimeoutError
        drain = asyncio.ensure_future(self._draining.wait())
        try:
            await asyncio.wait({task, drain}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drain.cancel()
            await cancel_until_done(task)
        if not task.cancelled():
            return task.result()  # finished first (or together with the drain): its result is not lost
        raise TimeoutError
