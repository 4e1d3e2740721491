"""The SQL adapters on PostgreSQL (asyncpg): the same behaviour as on SQLite, through the whole app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import _client, letter_files, make_settings, seed

ADMIN = ("pg-admin@lexica.test", "a long and private passphrase")


@pytest.fixture(scope="module")
def seeded_postgres(postgres_url: str) -> str:
    asyncio.run(seed(postgres_url, letter_files("X", "Q")))
    return postgres_url


@pytest.fixture
async def api(seeded_postgres: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(seeded_postgres, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]))
    async for client in _client(settings):
        yield client


async def admin_headers(api: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    response = await api.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_lookup_and_readiness_on_postgresql(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health/ready")).json()["checks"] == {"storage": "ok", "dictionary": "ok"}
    response = await api.get("/api/v1/words/xylophone")
    assert response.status_code == 200
    assert response.json()["headword"] == "xylophone"


async def test_listing_is_in_code_point_order_across_pages(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/words?prefix=q&limit=50"
    while url is not None:
        page = (await api.get(url)).json()
        seen += [item["headword"] for item in page["items"]]
        url = page["links"]["next"]
    keys = [word.casefold() for word in seen]
    assert keys == sorted(keys)  # Python's str order is code-point order, as SQLite's
    assert len(seen) == len(set(seen)) > 500
    assert any(" " in word for word in seen)


async def test_concurrent_conditional_writes_on_postgresql(api: httpx.AsyncClient) -> None:
    headers = await admin_headers(api)
    etag = (await api.get("/api/v1/words/quiet")).headers["etag"]
    body = {"headword": "quiet", "parts_of_speech": []}
    responses = await asyncio.gather(
        *(api.put("/api/v1/words/quiet", json=body, headers={**headers, "If-Match": etag}) for _ in range(20))
    )
    assert sorted(r.status_code for r in responses) == [200] + [412] * 19


async def test_refresh_token_reuse_revokes_the_family_on_postgresql(api: httpx.AsyncClient) -> None:
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    first = (await api.post("/api/v1/auth/token", data=form)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = await api.post("/api/v1/auth/token", data=refresh)
    assert second.status_code == 200
    reused = await api.post("/api/v1/auth/token", data=refresh)
    assert reused.status_code == 400
    me = await api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"})
    assert me.status_code == 401


async def test_accounts_keys_and_audit_on_postgresql(api: httpx.AsyncClient) -> None:
    email, password = "pg-reader@lexica.test", "another long passphrase"
    assert (await api.post("/api/v1/auth/register", json={"email": email, "password": password})).status_code == 201
    headers = await admin_headers(api)
    created = await api.post("/api/v1/users/me/api-keys", json={"name": "pg"}, headers=headers)
    assert created.status_code == 201
    assert (await api.get("/api/v1/users/me", headers={"X-API-Key": created.json()["key"]})).status_code == 200
    events = (await api.get("/api/v1/admin/audit-events?limit=5", headers=headers)).json()["items"]
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)


async def test_register_login_and_lookup_on_postgresql(api: httpx.AsyncClient) -> None:
    email, password = "pg-smoke@lexica.test", "a smoke test passphrase"
    registered = await api.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    form = {"grant_type": "password", "username": email, "password": password}
    token = await api.post("/api/v1/auth/token", data=form)
    assert token.status_code == 200, token.text
    me = await api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email
    word = await api.get("/api/v1/words/quartz")
    assert word.status_code == 200
    assert word.json()["headword"] == "quartz"
