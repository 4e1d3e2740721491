"""Fixtures for the identity tests: the app over a fresh empty database per test, and clients per address."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from lexica.app import create_app
from lexica.auth import passwords, totp
from lexica.auth.repository import AuthStorage
from lexica.auth.totp import STEP_SECONDS
from lexica.settings import Settings
from lexica.storage.sql.auth import sql_auth_storage
from lexica.storage.sql.database import create_engine
from tests.auth.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, TotpClock
from tests.conftest import make_settings
from tests.platform.conftest import DEFAULT_TEST_REDIS_URL, TEST_REDIS_URL_ENV, require_redis

# Argon2id at the production cost takes ~160 ms a hash; the suite hashes hundreds of times.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16, type=Type.ID)


class Server:
    """A started app: HTTP clients calling it from a chosen address, and its auth storage."""

    def __init__(self, app: Any, settings: Settings, stack: AsyncExitStack) -> None:
        self.app = app
        self.settings = settings
        self._stack = stack
        self._storage: AuthStorage | None = None

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40_000))
        client = httpx.AsyncClient(transport=transport, base_url="http://lexica.test")
        self._stack.push_async_callback(client.aclose)
        return client

    @property
    def storage(self) -> AuthStorage:
        """The auth storage the app uses, through an engine of its own."""
        if self._storage is None:
            engine = create_engine(self.settings.database_url)
            self._stack.push_async_callback(engine.dispose)
            self._storage = sql_auth_storage(engine)
        return self._storage

    async def audit_actions(self) -> list[str]:
        """Every audited action, newest first."""
        return [event.action for event in await self.storage.audit.events(before=None, limit=1000)]


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Server]:
    app = create_app(settings)
    async with LifespanManager(app) as manager, AsyncExitStack() as stack:
        yield Server(manager.app, settings, stack)


SettingsFactory = Callable[..., Settings]


@pytest.fixture(autouse=True)
def fast_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters, unless the test asks for `production_password_hashing`."""
    if "production_password_hashing" not in request.fixturenames:
        monkeypatch.setattr(passwords, "_HASHER", FAST_HASHER)


@pytest.fixture
def production_password_hashing() -> None:
    """Keeps the server's own argon2id parameters (see `fast_password_hashing`)."""


@pytest.fixture
def settings_for(empty_database: str) -> SettingsFactory:
    """Test settings over this test's empty database, with overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"search_index_on_startup": False, "redis_url": None, **overrides}
        return make_settings(empty_database, **values)

    return build


@pytest.fixture
async def server(settings_for: SettingsFactory) -> AsyncIterator[Server]:
    async with running(settings_for()) as started:
        yield started


@pytest.fixture
def api(server: Server) -> httpx.AsyncClient:
    """A client of `server` from 127.0.0.1."""
    return server.client()


@pytest.fixture
async def admin_server(settings_for: SettingsFactory) -> AsyncIterator[Server]:
    """A server whose first admin was created from settings (ADMIN_EMAIL / ADMIN_PASSWORD)."""
    async with running(settings_for(first_admin_email=ADMIN_EMAIL, first_admin_password=ADMIN_PASSWORD)) as started:
        yield started


@pytest.fixture
def totp_clock(monkeypatch: pytest.MonkeyPatch) -> TotpClock:
    """The server's TOTP clock, set to the start of the current time step."""
    clock = TotpClock(float(int(time.time()) // STEP_SECONDS * STEP_SECONDS))
    monkeypatch.setattr(totp, "time", clock)
    return clock


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a Redis server for tests (LEXICA_TEST_REDIS_URL, default database 15 on localhost)."""
    url = os.environ.get(TEST_REDIS_URL_ENV, DEFAULT_TEST_REDIS_URL)
    require_redis(url)
    return url


@pytest.fixture
def redis_key_prefix() -> str:
    return f"lexica-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis(redis_url: str, redis_key_prefix: str) -> AsyncIterator[Redis]:
    """A Redis client; the keys under this test's prefix, and only those, are deleted afterwards."""
    client = Redis.from_url(redis_url, socket_timeout=2.0)
    try:
        yield client
        keys = [key async for key in client.scan_iter(match=f"{redis_key_prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
