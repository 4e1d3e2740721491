"""Two app instances sharing one Redis share rate-limit quotas and login throttling (scale-out)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from lexica.app import create_app
from lexica.settings import Settings
from tests.conftest import make_settings


@asynccontextmanager
async def instance(settings: Settings, client_ip: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://lexica.test") as client:
            yield client


def _unique_ip() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


async def test_instances_share_the_anonymous_quota(redis_url: str, empty_database: str) -> None:
    settings = make_settings(
        empty_database, redis_url=redis_url, rate_limit_enabled=True, rate_limit_anonymous="5/minute"
    )
    ip = _unique_ip()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(instance(settings, ip))
        second = await stack.enter_async_context(instance(settings, ip))
        statuses = [(await client.get("/api/v1/words?limit=1")).status_code for client in (first, second) * 3]
    assert statuses == [200, 200, 200, 200, 200, 429]


async def test_login_throttling_on_one_instance_holds_on_the_other(redis_url: str, empty_database: str) -> None:
    settings = make_settings(empty_database, redis_url=redis_url)
    ip = _unique_ip()
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    password = "a perfectly fine passphrase"
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(instance(settings, ip))
        second = await stack.enter_async_context(instance(settings, ip))
        registered = await first.post("/api/v1/auth/register", json={"email": email, "password": password})
        assert registered.status_code == 201
        wrong = {"grant_type": "password", "username": email, "password": "not the right passphrase"}
        for _ in range(6):
            await first.post("/api/v1/auth/token", data=wrong)
        right = {"grant_type": "password", "username": email, "password": password}
        refused = await second.post("/api/v1/auth/token", data=right)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1


async def test_readiness_reports_redis(redis_url: str, empty_database: str) -> None:
    async with instance(make_settings(empty_database, redis_url=redis_url), _unique_ip()) as client:
        body = (await client.get("/health/ready")).json()
    assert body["checks"]["redis"] == "ok"
