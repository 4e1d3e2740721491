"""Databases for the storage conformance suite: a temp SQLite file, or a fresh PostgreSQL or MongoDB database per test.

PostgreSQL is the service at 127.0.0.1:5432 (here and in CI), reached through an admin connection to its `test`
database. Each test gets `CREATE DATABASE lexica_test_<hex>` (about 50 ms), dropped with `WITH (FORCE)` afterwards,
so tests share nothing and may run in any order. The database's default collation is made linguistic (ICU en-US)
where the server supports it, as a production server's usually is, so the suite proves that headword order does not
depend on it.

MongoDB is the server at LEXICA_TEST_MONGO_URL when set (a real one), else nx-27017, a MongoDB wire-protocol server
on SQLite (a dev dependency) started for the session on a free port with a temporary data directory. Each test gets
a database `lexica_test_<hex>`, dropped afterwards. The conformance suites run on all three through the ports.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from pymongo.errors import PyMongoError
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from bench.services import (
    DEFAULT_POSTGRES_ADMIN_URL,
    MONGO_URL_ENV,
    POSTGRES_ADMIN_URL_ENV,
    ServiceUnavailable,
    create_postgres_database,
    drop_mongo_database,
    fresh_name,
    mongo_ping,
    postgres_admin,
    postgres_database_url,
    shown,
    skip_or_fail,
    start_nx_27017,
    stop,
    with_database,
)
from lexica.auth.repository import AuthStorage
from lexica.lists.repository import ListRepository
from lexica.storage.backends import Storage, open_storage
from lexica.words.repository import WordRepository
from tests.conftest import make_settings


def _unavailable(reason: str) -> NoReturn:
    skip_or_fail(reason)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Admin URL of the test PostgreSQL server; skips without it, fails when LEXICA_REQUIRE_SERVICES=1."""
    admin_url = os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
    try:
        asyncio.run(postgres_admin(admin_url, "SELECT 1"))
    except (OSError, DBAPIError) as exc:
        where = make_url(admin_url).render_as_string(hide_password=True)
        _unavailable(
            f"PostgreSQL does not answer at {where} ({type(exc).__name__}: {exc}); set {POSTGRES_ADMIN_URL_ENV}"
        )
    return admin_url


@pytest.fixture(scope="session")
def postgres_database(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh databases on the test server; every database it made is dropped afterwards."""
    made: list[str] = []

    def fresh() -> str:
        name = fresh_name()
        asyncio.run(create_postgres_database(postgres_admin_url, name))
        made.append(name)
        return postgres_database_url(postgres_admin_url, name)

    yield fresh
    if made:
        asyncio.run(postgres_admin(postgres_admin_url, *(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in made)))


@pytest.fixture(scope="session")
def mongo_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the test MongoDB server: LEXICA_TEST_MONGO_URL, or nx-27017 started for the session (stopped after).

    Skips when neither answers; fails instead when LEXICA_REQUIRE_SERVICES=1.
    """
    configured = os.environ.get(MONGO_URL_ENV)
    if configured:
        try:
            mongo_ping(configured, timeout_ms=5_000)
        except PyMongoError as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            _unavailable(f"MongoDB does not answer at {shown(configured)} ({error}); check {MONGO_URL_ENV}")
        yield configured
        return
    try:
        process, url = start_nx_27017(tmp_path_factory.mktemp("nx-27017"))
    except ServiceUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield url
    finally:
        stop(process)


def _fresh_mongo_database(server_url: str) -> Iterator[str]:
    name = fresh_name()
    yield with_database(server_url, name)
    drop_mongo_database(server_url, name)


@pytest.fixture
def mongo_database_url(mongo_server_url: str) -> Iterator[str]:
    """A fresh MongoDB database for one test, dropped afterwards."""
    yield from _fresh_mongo_database(mongo_server_url)


@pytest.fixture(scope="module")
def mongo_url(mongo_server_url: str) -> Iterator[str]:
    """A fresh MongoDB database shared by one module (the app-level tests seed it once), dropped afterwards."""
    yield from _fresh_mongo_database(mongo_server_url)


def _empty_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'conformance.sqlite3'}"
    if backend == "postgresql":
        fresh: Callable[[], str] = request.getfixturevalue("postgres_database")
        return fresh()
    return str(request.getfixturevalue("mongo_database_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each SQL backend, one per test (the migration tests)."""
    return _empty_database(request, request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql", "mongodb"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of every storage backend, one per test (the conformance suites)."""
    return _empty_database(request, request.param, tmp_path)


@pytest.fixture
async def storage(storage_url: str) -> AsyncIterator[Storage]:
    """The adapters of one backend, opened as the app opens them; the pool is large enough for the concurrency
    tests to really overlap."""
    async with open_storage(make_settings(storage_url, database_pool_size=20, database_max_overflow=5)) as storage:
        yield storage


@pytest.fixture
def words(storage: Storage) -> WordRepository:
    return storage.words


@pytest.fixture
def auth(storage: Storage) -> AuthStorage:
    return storage.auth


@pytest.fixture
def lists(storage: Storage) -> ListRepository:
    return storage.lists
