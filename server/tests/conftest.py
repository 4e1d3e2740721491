"""Fixtures: a SQLite database holding the real GCIDE entries of letter A, and clients of the app over it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from lexica.app import create_app
from lexica.settings import Settings
from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import import_entries

TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-checks"


def letter_files(*letters: str) -> list[Path]:
    wanted = {f"words_{letter}.json" for letter in letters}
    return [path for path in gcide_files() if path.name in wanted]


async def seed(database_url: str, files: list[Path]) -> int:
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        entries = read_entries(files, SourceReport())
        await import_entries(SqlWordRepository(engine), entries)
        return len(entries)
    finally:
        await engine.dispose()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings; rate limiting and cache warming are off unless a test turns them on (they have tests of their
    own; warming would also keep the hot set in the checkout's var/)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "secret_key": SecretStr(TEST_SECRET),
        "tune_gc": False,
        "rate_limit_enabled": False,
        "entry_cache_warm_count": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def letter_a_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a database seeded once per session with GCIDE's letter-A file (8,194 records, real data)."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'letter_a.sqlite3'}"
    asyncio.run(seed(url, letter_files("A")))
    return url


@pytest.fixture
def empty_database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lexica.test") as client:
            yield client


@pytest.fixture
async def client(letter_a_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(make_settings(letter_a_database)):
        yield c


@pytest.fixture
async def empty_client(empty_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(make_settings(empty_database)):
        yield c


@pytest.fixture(params=["CORS on", "CORS off"])
async def front_apps(letter_a_database: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Any]]:
    """Two apps over letter A, with and without the front's fast paths (`tests.front_pair`)."""
    from tests.front_pair import pair_of_apps  # it builds on `make_settings` above

    async with pair_of_apps(letter_a_database, cors=request.param == "CORS on") as apps:
        yield apps
