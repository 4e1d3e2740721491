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
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from lexica.auth.repository import AuthRepository
from lexica.lists.repository import ListRepository
from lexica.storage.backends import Storage, open_storage
from lexica.words.repository import WordRepository
from tests.conftest import make_settings

ADMIN_URL_ENV = "LEXICA_TEST_POSTGRES_URL"
MONGO_URL_ENV = "LEXICA_TEST_MONGO_URL"
NX_27017_START_SECONDS = 20
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
        _unavailable(f"PostgreSQL does not answer at {shown} ({type(exc).__name__}: {exc}); set {ADMIN_URL_ENV}")
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


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("LEXICA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}. LEXICA_REQUIRE_SERVICES=1 requires it.")
    pytest.skip(reason)


def _shown(url: str) -> str:
    """The URL without credentials, for messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _with_database(server_url: str, name: str) -> str:
    """`server_url` (any credentials, hosts and options kept) naming database `name` in its path."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _mongo_ping(server_url: str, timeout_ms: int) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(
        server_url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_nx_27017(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nx-27017 on a free loopback port with its own data directory, log and pid file; its URL once it answers."""
    executable = Path(sys.executable).with_name("nx-27017")
    if not executable.exists():
        _unavailable(f"nx-27017 is not installed next to {sys.executable} (pip install -e '.[dev]')")
    port = _free_port()
    log = workdir / "nx-27017.log"
    command = [str(executable), "--data-dir", str(workdir / "data"), "--host", "127.0.0.1", "-p", str(port)]
    command += ["--log-file", str(log), "--pid-file", str(workdir / "nx-27017.pid")]
    with (workdir / "nx-27017.out").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + NX_27017_START_SECONDS
    while True:
        if process.poll() is not None:
            out = (workdir / "nx-27017.out").read_text(errors="replace")[-2000:]
            _unavailable(f"nx-27017 exited with code {process.returncode} on start: {out}")
        try:
            _mongo_ping(url, timeout_ms=250)
            return process, url
        except PyMongoError as exc:
            if time.monotonic() > deadline:
                _stop(process)
                _unavailable(f"nx-27017 did not answer a ping on port {port} within {NX_27017_START_SECONDS}s ({exc})")
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def mongo_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the test MongoDB server: LEXICA_TEST_MONGO_URL, or nx-27017 started for the session (stopped after).

    Skips when neither answers; fails instead when LEXICA_REQUIRE_SERVICES=1.
    """
    configured = os.environ.get(MONGO_URL_ENV)
    if configured:
        try:
            _mongo_ping(configured, timeout_ms=5_000)
        except PyMongoError as exc:
            shown, error = _shown(configured), f"{type(exc).__name__}: {str(exc)[:200]}"
            _unavailable(f"MongoDB does not answer at {shown} ({error}); check {MONGO_URL_ENV}")
        yield configured
        return
    process, url = _start_nx_27017(tmp_path_factory.mktemp("nx-27017"))
    try:
        yield url
    finally:
        _stop(process)


def _fresh_mongo_database(server_url: str) -> Iterator[str]:
    name = f"lexica_test_{uuid.uuid4().hex[:12]}"
    yield _with_database(server_url, name)
    client: MongoClient[dict[str, Any]] = MongoClient(server_url, serverSelectionTimeoutMS=5_000)
    try:
        client.drop_database(name)
    finally:
        client.close()


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
def auth(storage: Storage) -> AuthRepository:
    return storage.auth


@pytest.fixture
def lists(storage: Storage) -> ListRepository:
    return storage.lists
