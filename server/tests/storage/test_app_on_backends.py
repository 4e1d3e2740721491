"""The whole app on each storage backend (SQLite, PostgreSQL through asyncpg, MongoDB through PyMongo's async API):
the same behaviour over HTTP, on a database seeded once per backend with two letters of GCIDE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bench.services import BACKENDS
from lexica.storage.backends import open_storage
from lexica.words.gcide import SourceReport, read_entries
from lexica.words.importing import import_entries
from tests.conftest import _client, letter_files, make_settings

ADMIN = ("backend-admin@lexica.test", "a long and private passphrase")


async def _seed(database_url: str, files: list[Path]) -> None:
    async with open_storage(make_settings(database_url)) as storage:
        await import_entries(storage.words, read_entries(files, SourceReport()))


@pytest.fixture(scope="module", params=BACKENDS)
def seeded_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('app-sqlite') / 'lexica.sqlite3'}"
    elif request.param == "postgresql":
        fresh: Callable[[], str] = request.getfixturevalue("postgres_database")
        url = fresh()
    else:
        url = str(request.getfixturevalue("mongo_url"))
    asyncio.run(_seed(url, letter_files("X", "Q")))
    return url


@pytest.fixture
async def api(seeded_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(seeded_url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]))
    async for client in _client(settings):
        yield client


async def admin_headers(api: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    response = await api.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_lookup_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health/ready")).json()["checks"] == {"storage": "ok", "dictionary": "ok"}
    response = await api.get("/api/v1/words/xylophone")
    assert response.status_code == 200
    assert response.json()["headword"] == "xylophone"
    assert (await api.get("/api/v1/words/xylophonez")).status_code == 404


async def test_listing_is_in_code_point_order_across_pages(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/words?prefix=q&limit=50"
    while url is not None:
        page = (await api.get(url)).json()
        seen += [item["headword"] for item in page["items"]]
        url = page["links"]["next"]
    keys = [word.casefold() for word in seen]
    assert keys == sorted(keys)  # Python's str order is code-point order: that of SQLite, "C" and MongoDB
    assert len(seen) == len(set(seen)) > 500
    assert any(" " in word for word in seen)


async def test_concurrent_conditional_writes_have_one_winner(api: httpx.AsyncClient) -> None:
    headers = await admin_headers(api)
    etag = (await api.get("/api/v1/words/quiet", headers={"Cache-Control": "no-cache"})).headers["etag"]
    body = {"headword": "quiet", "parts_of_speech": []}
    responses = await asyncio.gather(
        *(api.put("/api/v1/words/quiet", json=body, headers={**headers, "If-Match": etag}) for _ in range(20))
    )
    assert sorted(r.status_code for r in responses) == [200] + [412] * 19


async def test_register_login_and_refresh_reuse(api: httpx.AsyncClient) -> None:
    email, password = "backend-reader@lexica.test", "a smoke test passphrase"
    registered = await api.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    assert (await api.post("/api/v1/auth/register", json={"email": email, "password": password})).status_code == 409
    form = {"grant_type": "password", "username": email, "password": password}
    first = (await api.post("/api/v1/auth/token", data=form)).json()
    me = await api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = await api.post("/api/v1/auth/token", data=refresh)
    assert second.status_code == 200
    reused = await api.post("/api/v1/auth/token", data=refresh)
    assert reused.status_code == 400
    after = await api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"})
    assert after.status_code == 401  # reuse revoked the whole family


async def test_api_keys_and_audit(api: httpx.AsyncClient) -> None:
    headers = await admin_headers(api)
    created = await api.post("/api/v1/users/me/api-keys", json={"name": "backend"}, headers=headers)
    assert created.status_code == 201
    assert (await api.get("/api/v1/users/me", headers={"X-API-Key": created.json()["key"]})).status_code == 200
    events = (await api.get("/api/v1/admin/audit-events?limit=5", headers=headers)).json()["items"]
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)


async def test_word_list_writers_at_one_version_have_one_winner(api: httpx.AsyncClient) -> None:
    headers = await admin_headers(api)
    created = await api.post("/api/v1/lists", json={"name": "Quiet words"}, headers=headers)
    assert created.status_code == 201, created.text
    href, etag = created.json()["href"], created.headers["ETag"]
    page = (await api.get("/api/v1/words", params={"prefix": "qui", "limit": 5})).json()
    words = [item["headword"] for item in page["items"]]
    responses = await asyncio.gather(
        *(api.post(f"{href}/words", json={"headwords": [w]}, headers={**headers, "If-Match": etag}) for w in words)
    )
    assert sorted(r.status_code for r in responses) == [200] + [412] * 4
    etag = next(r for r in responses if r.status_code == 200).headers["ETag"]
    rest = await api.post(f"{href}/words", json={"headwords": words}, headers={**headers, "If-Match": etag})
    assert rest.status_code == 200, rest.text
    listed = (await api.get(href, params={"limit": 100}, headers=headers)).json()
    assert [item["headword"] for item in listed["words"]["items"]] == words  # key order, as the dictionary
    assert listed["list"]["version"] == 3
