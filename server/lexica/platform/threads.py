"""CPU work off the event loop that a stopping process does not wait for.

`asyncio.to_thread` runs work in the loop's default executor, whose threads the interpreter joins at exit: an
instance stopped while it rebuilt its search index (seconds of CPU after an import) finished serving, said so, and
then stayed alive until the index it would never use was built — long enough for a rolling restart to give up on it.
A daemon thread is not joined; its result is simply dropped if the loop has gone. The standard library has no
executor of daemon threads (`concurrent.futures` joins its own at exit too), hence these few lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_daemon_thread(function: Callable[[], T], *, name: str) -> T:
    """`function()` in a new daemon thread; awaits its result (or its exception)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the waiter was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:  # handed to the waiter, as asyncio.to_thread would
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future
