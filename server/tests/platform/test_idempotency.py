"""Idempotency-Key on POST: replay, mismatch, in-flight, scoping, and the Redis store across instances."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from lexica.app import create_app
from lexica.settings import Settings
from tests.conftest import make_settings

ADMIN = ("idem-admin@lexica.test", "a long and private passphrase")


@asynccontextmanager
async def instance(settings: Settings, client_ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://lexica.test") as client:
            yield client


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path / 'idem.sqlite3'}"
    return make_settings(url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]), **overrides)


async def admin_headers(api: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    response = await api.post("/api/v1/auth/token", data=form)
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def entry(headword: str) -> dict[str, object]:
    return {"headword": headword, "parts_of_speech": []}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with instance(settings_for(tmp_path)) as client:
        yield client


async def test_retry_with_the_same_key_replays_and_creates_nothing_new(api: httpx.AsyncClient) -> None:
    headers = {**await admin_headers(api), "Idempotency-Key": "create-once-1"}
    first = await api.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=headers)
    again = await api.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = await api.get("/api/v1/users/me/api-keys", headers=await admin_headers(api))
    assert len(listed.json()["items"]) == 1


async def test_same_key_with_another_body_is_422(api: httpx.AsyncClient) -> None:
    headers = {**await admin_headers(api), "Idempotency-Key": "create-once-2"}
    await api.post("/api/v1/words", json=entry("alpha-one"), headers=headers)
    other = await api.post("/api/v1/words", json=entry("alpha-two"), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_concurrent_first_requests_run_once(api: httpx.AsyncClient) -> None:
    headers = {**await admin_headers(api), "Idempotency-Key": "create-once-3"}
    responses = await asyncio.gather(
        *(api.post("/api/v1/words", json=entry("gamma-word"), headers=headers) for _ in range(10))
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert all(r.json()["version"] == 1 for r in responses if r.status_code == 201)


async def test_keys_are_scoped_to_the_caller(api: httpx.AsyncClient) -> None:
    """Another caller using the same key runs their own request and never sees the first caller's response."""
    body = {"email": "first@lexica.test", "password": "a long enough passphrase"}
    mine = await api.post("/api/v1/auth/register", json=body, headers={"Idempotency-Key": "shared-key"})
    admin = await admin_headers(api)
    theirs = await api.post(
        "/api/v1/words", json=entry("delta-word"), headers={**admin, "Idempotency-Key": "shared-key"}
    )
    assert mine.status_code == 201
    assert theirs.status_code == 201
    assert theirs.json()["headword"] == "delta-word"


async def test_failed_requests_are_not_replayed_as_success(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "anonymous-try"}
    refused = await api.post("/api/v1/words", json=entry("epsilon"), headers=headers)
    assert refused.status_code == 401
    replay = await api.post("/api/v1/words", json=entry("epsilon"), headers=headers)
    assert replay.status_code == 401


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "caf\u00e9"])
async def test_malformed_keys_are_422(api: httpx.AsyncClient, key: str) -> None:
    response = await api.post("/api/v1/auth/register", json={}, headers={b"Idempotency-Key": key.encode("utf-8")})
    assert response.status_code == 422


async def test_instances_sharing_redis_replay_each_others_responses(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, redis_url=redis_url)
    key = f"shared-{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(instance(settings))
        second = await stack.enter_async_context(instance(settings))
        headers = {**await admin_headers(first), "Idempotency-Key": key}
        created = await first.post("/api/v1/words", json=entry("zeta-word"), headers=headers)
        replayed = await second.post("/api/v1/words", json=entry("zeta-word"), headers=headers)
    assert created.status_code == 201
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == created.json()
