"""Databases for the storage conformance suite: a temp SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL is the service at 127.0.0.1:5432 (here and in CI), reached through an admin connection to its `test`
database. Each test gets `CREATE DATABASE lexica_test_<hex>` (about 50 ms), dropped with `WITH (FORCE)` afterwards,
so tests share nothing and may run in any order. The database's default collation is made linguistic (ICU en-US)
where the server supports it, as a production server's usually is, so the suite proves that headword order does not
depend on it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from lexica.lists.repository import ListRepository
from lexica.storage.sql.auth import SqlAuthRepository
from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.lists import SqlListRepository
from lexica.storage.sql.words import SqlWordRepository

ADMIN_URL_ENV = "LEXICA_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_LINGUISTIC = "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"


async def _admin(admin_url: str, *statements: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _create_database(admin_url: str, name: str) -> None:
    try:
        await _admin(admin_url, f'CREATE DATABASE "{name}" {_LINGUISTIC}')
    except DBAPIError:  # no ICU (or PostgreSQL < 15): the server's default collation will do
        await _admin(admin_url, f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Admin URL of the test PostgreSQL server; skips without it, fails when LEXICA_REQUIRE_SERVICES=1."""
    admin_url = os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)
    try:
        asyncio.run(_admin(admin_url, "SELECT 1"))
    except (OSError, DBAPIError) as exc:
        shown = make_url(admin_url).render_as_string(hide_password=True)
        reason = f"PostgreSQL does not answer at {shown} ({type(exc).__name__}: {exc}); set {ADMIN_URL_ENV}"
        if os.environ.get("LEXICA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}. LEXICA_REQUIRE_SERVICES=1 requires it.")
        pytest.skip(reason)
    return admin_url


@pytest.fixture(scope="session")
def postgres_database(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh databases on the test server; every database it made is dropped afterwards."""
    made: list[str] = []
    base, _, _ = postgres_admin_url.rpartition("/")

    def fresh() -> str:
        name = f"lexica_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_create_database(postgres_admin_url, name))
        made.append(name)
        return f"{base}/{name}"

    yield fresh
    if made:
        asyncio.run(_admin(postgres_admin_url, *(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in made)))


@pytest.fixture(scope="module")
def postgres_url(postgres_database: Callable[[], str]) -> str:
    """A fresh PostgreSQL database shared by one module (the app-level tests seed it once)."""
    return postgres_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend, one per test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'conformance.sqlite3'}"
    fresh: Callable[[], str] = request.getfixturevalue("postgres_database")
    return fresh()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated database; the pool is large enough for the concurrency tests to really overlap."""
    engine = create_engine(database_url, pool_size=20, max_overflow=5)
    try:
        await upgrade_schema(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def words(engine: AsyncEngine) -> SqlWordRepository:
    return SqlWordRepository(engine)


@pytest.fixture
def auth(engine: AsyncEngine) -> SqlAuthRepository:
    return SqlAuthRepository(engine)


@pytest.fixture
def lists(engine: AsyncEngine) -> ListRepository:
    return SqlListRepository(engine)
