"""The instance's lifecycle as the app sees it: serving, then draining once a shutdown has been asked for.

Draining comes before the server stops: readiness answers 503 (so a load balancer stops sending new work), event
streams end with their declared reconnect message, WebSockets close with 1001 (going away), and the server then
finishes in-flight requests within its grace period. One object per app, held by the lifespan state.
"""

from __future__ import annotations

import asyncio


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
