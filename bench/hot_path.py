"""One cached entry lookup through the whole ASGI stack, in process: what `make bench` profiles and what the
instruction-count gate measures (`python -m bench.hot_path --profile` prints where the time goes).

The app is built as `make run` builds it (every middleware, rate limiting on with an unreachable quota), over a
small SQLite database of real GCIDE entries; requests are ASGI calls without a socket, so only Lexica's own work
and the framework's are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from lexica.app import create_app
from lexica.settings import Settings
from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import import_entries

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Callable[[Message], Awaitable[None]]], Awaitable[None]]
PATH = "/api/v1/words/apple"


async def seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        files = [path for path in gcide_files() if path.name == "words_A.json"]
        await import_entries(SqlWordRepository(engine), read_entries(files, SourceReport()))
    finally:
        await engine.dispose()


def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SecretStr("hot-path-benchmark-secret-key-long-enough"),
        rate_limit_anonymous="100000000/minute",  # on, as in production, with a quota the loop never reaches
        tune_gc=False,
        load_dictionary=False,
        entry_cache_warm_count=0,  # no hot set read from or written to disk: every run starts alike
    )


def _scope(path: str) -> MutableMapping[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def lookup(app: ASGIApp, path: str = PATH) -> int:
    """One GET through the app; the response status."""
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(_scope(path), receive, send)
    return status


async def run(count: int, *, profile: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'hot.sqlite3'}"
        await seed(url)
        app = create_app(settings(url))
        async with LifespanManager(app) as manager:
            served: Any = manager.app
            assert await lookup(served) == 200  # cached from here on
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            for _ in range(count):
                await lookup(served)
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rate = asyncio.run(run(args.count, profile=args.profile))
    print(f"{rate:,.0f} cached lookups/s in process ({args.count:,} requests)")


if __name__ == "__main__":
    main()
