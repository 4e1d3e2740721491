"""Idempotency-Key on POST: replay, mismatch, in-flight, scoping, and the Redis store across instances."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from starlette.types import Message

from lexica._generated import routes
from lexica._generated.routes import OPERATIONS
from lexica.app import create_app
from lexica.settings import Settings
from tests.conftest import make_settings
from tests.platform.private_redis import private_redis

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


async def login(api: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    response = await api.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200
    return dict(response.json())


async def test_replay_after_logout_does_not_return_the_secret(api: httpx.AsyncClient) -> None:
    tokens = await login(api)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Idempotency-Key": "key-then-logout"}
    created = await api.post("/api/v1/users/me/api-keys", json={"name": "laptop"}, headers=headers)
    assert created.status_code == 201
    assert (await api.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    replay = await api.post("/api/v1/users/me/api-keys", json={"name": "laptop"}, headers=headers)
    assert replay.status_code == 401
    assert "idempotent-replayed" not in replay.headers
    assert created.json()["key"] not in replay.text


async def test_replay_with_a_revoked_api_key_does_not_return_the_secret(api: httpx.AsyncClient) -> None:
    owner = await admin_headers(api)
    first = await api.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=owner)
    headers = {"X-API-Key": first.json()["key"], "Idempotency-Key": "key-then-revoke"}
    created = await api.post("/api/v1/users/me/api-keys", json={"name": "child"}, headers=headers)
    assert created.status_code == 201
    revoked = await api.delete(f"/api/v1/users/me/api-keys/{first.json()['id']}", headers=owner)
    assert revoked.status_code == 204
    replay = await api.post("/api/v1/users/me/api-keys", json={"name": "child"}, headers=headers)
    assert replay.status_code == 401
    assert created.json()["key"] not in replay.text


async def test_the_header_is_ignored_by_operations_that_do_not_declare_it(api: httpx.AsyncClient) -> None:
    """Token and TOTP responses carry secrets: they are never recorded, so never replayed."""
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    key = {"Idempotency-Key": "token-twice"}
    first = await api.post("/api/v1/auth/token", data=form, headers=key)
    second = await api.post("/api/v1/auth/token", data=form, headers=key)
    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in second.headers
    assert second.json()["refresh_token"] != first.json()["refresh_token"]
    auth = {"Authorization": f"Bearer {second.json()['access_token']}", "Idempotency-Key": "totp-twice"}
    enrolled = await api.post("/api/v1/users/me/mfa/totp", headers=auth)
    again = await api.post("/api/v1/users/me/mfa/totp", headers=auth)
    assert enrolled.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert enrolled.json()["secret"] not in again.text


def test_operations_taking_the_key_declare_its_answers() -> None:
    """Derived from the spec: the operations that take Idempotency-Key, each declaring 409, 422 and 503."""
    taking = {op.operation_id: op for op in OPERATIONS if "idempotency-key" in op.middleware_headers}
    assert set(taking) == {"createEntry", "createList", "startImport", "startExport", "registerUser", "createApiKey"}
    for operation in taking.values():
        assert {409, 422, 503} <= set(operation.statuses), operation.operation_id


async def test_the_stored_response_in_redis_holds_no_secret(tmp_path: Path) -> None:
    with private_redis() as server:
        async with instance(settings_for(tmp_path, redis_url=server.url)) as api:
            headers = {**await admin_headers(api), "Idempotency-Key": "secret-at-rest"}
            created = await api.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=headers)
            replay = await api.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=headers)
        secret = created.json()["key"].encode()
        with server.client() as client:
            values = [client.get(name) or b"" for name in client.scan_iter(match="*idempotency*", count=1000)]
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["key"] == secret.decode()
    assert values
    assert not [value for value in values if any(secret in form for form in readable_forms(value))]


def readable_forms(value: bytes) -> list[bytes]:
    """The value, and what each run of base64 in it decodes to (a response body was stored base64-encoded)."""
    return [value] + [
        base64.b64decode(run + b"=" * (-len(run) % 4)) for run in re.findall(rb"[A-Za-z0-9+/]{16,}", value)
    ]


async def test_redis_unreachable_refuses_with_503_before_anything_is_done(tmp_path: Path) -> None:
    with private_redis() as server:
        async with instance(settings_for(tmp_path, redis_url=server.url)) as api:
            auth = await admin_headers(api)
            server.kill()
            refused = await api.post(
                "/api/v1/lists", json={"name": "Fruit"}, headers={**auth, "Idempotency-Key": "while-redis-is-down"}
            )
            lists = await api.get("/api/v1/lists", headers=auth)
            server.start()  # shutting the app down is not what this test is about
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/service-unavailable"
    assert int(refused.headers["retry-after"]) >= 1
    assert lists.status_code == 200
    assert lists.json()["items"] == []


async def test_redis_dying_while_a_keyed_create_runs_still_answers_201(tmp_path: Path) -> None:
    """The write happens, so the client gets its real answer although its response cannot be recorded."""
    with private_redis() as server:
        app = create_app(settings_for(tmp_path, redis_url=server.url))
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lexica.test") as api:
                auth = await admin_headers(api)
                body = json.dumps({"name": "Fruit"}).encode()
                sent: list[Message] = []
                parts = [body[:5], body[5:]]

                async def receive() -> Message:
                    if not parts:
                        await asyncio.sleep(30)  # until the response is complete
                        return {"type": "http.disconnect"}
                    if len(parts) == 1:
                        server.kill()  # Redis dies while the body is being sent
                    return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

                async def send(message: Message) -> None:
                    sent.append(message)

                headers = [(name.lower().encode(), value.encode()) for name, value in auth.items()]
                scope = {
                    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                    "scheme": "http", "path": "/api/v1/lists", "raw_path": b"/api/v1/lists", "query_string": b"",
                    "root_path": "", "client": ("127.0.0.1", 40000), "server": ("lexica.test", 80),
                    "headers": [*headers, (b"content-type", b"application/json"), (b"idempotency-key", b"k-dies")],
                }  # fmt: skip
                await asyncio.wait_for(manager.app(scope, receive, send), timeout=10)
                lists = await api.get("/api/v1/lists", headers=auth)
                server.start()  # shutting the app down is not what this test is about
    assert sent[0]["status"] == 201
    assert [item["name"] for item in lists.json()["items"]] == ["Fruit"]


def test_every_route_binding_authenticates_before_it_reads_a_body() -> None:
    """What lets the middleware hold no body: a caller refused 401/403 is refused before a byte of it is read."""
    source = inspect.getsource(routes)
    for handler in re.split(r"\nasync def ", source)[1:]:
        reads = [handler.find(reader) for reader in ("json_body(", "form_body(", "json_or_ndjson_body(")]
        first_read = min((index for index in reads if index >= 0), default=-1)
        authenticates = handler.find("principal = await authenticate")
        if first_read >= 0 and authenticates >= 0:
            assert authenticates < first_read, handler.split("(", 1)[0]
