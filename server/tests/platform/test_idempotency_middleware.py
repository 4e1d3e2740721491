"""The middleware around a small ASGI app over a real Redis that dies: before the app runs, or after it answered."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import cast

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import Message, Receive, Scope, Send

from lexica.platform.binding import OperationInfo
from lexica.platform.idempotency import Idempotency, IdempotencyMiddleware
from lexica.platform.idempotency_seal import ResponseSealer
from lexica.platform.idempotency_store import MemoryIdempotencyStore, RedisIdempotencyStore
from lexica.platform.lifecycle import Lifecycle
from lexica.platform.running import Running
from lexica.platform.security import Authenticator
from tests.platform.private_redis import PrivateRedis, private_redis

CREATE = OperationInfo(
    operation_id="createThing",
    method="POST",
    path="/things",
    route_path="/things",
    produces=("application/json",),
    statuses=(201,),
    middleware_headers=frozenset({"idempotency-key"}),
)
OTHER = OperationInfo(
    operation_id="other",
    method="POST",
    path="/other",
    route_path="/other",
    produces=("application/json",),
    statuses=(200,),
)


class Thing:
    """The app: reads the body, "commits" (counts), then runs `after_commit` and answers 201."""

    def __init__(self, after_commit: Callable[[], None] = lambda: None) -> None:
        self.created = 0
        self.after_commit = after_commit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        self.created += 1
        self.after_commit()
        body = b'{"id": %d}' % self.created
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def client_of(app: Thing, server: PrivateRedis) -> AsyncIterator[httpx.AsyncClient]:
    redis = Redis.from_url(server.url, socket_timeout=1)
    store = RedisIdempotencyStore(redis, ttl_seconds=60, lease_seconds=5)
    idempotency = Idempotency(store=store, sealer=ResponseSealer("a test secret long enough"), lease_seconds=5)
    middleware = IdempotencyMiddleware(app, operations=[CREATE, OTHER])

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        services = SimpleNamespace(idempotency=idempotency)  # what the middleware reads of the instance's services
        scope["state"] = Running(services, {}, cast(Authenticator, None), Lifecycle()).as_lifespan_state()
        await middleware(scope, receive, send)

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://t") as client:
            yield client
    finally:
        await redis.aclose()


async def test_a_store_failure_after_the_app_answered_still_gives_the_client_its_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with private_redis() as server:
        app = Thing(after_commit=server.kill)
        async with client_of(app, server) as client:
            with caplog.at_level(logging.WARNING, logger="lexica.idempotency"):
                response = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 201
    assert response.json() == {"id": 1}
    assert app.created == 1
    assert "cannot record the response" in caplog.text


async def test_a_store_down_before_the_app_runs_is_503_and_nothing_is_done() -> None:
    with private_redis() as server:
        app = Thing()
        async with client_of(app, server) as client:
            server.kill()
            response = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k1"})
            without_key = await client.post("/things", json={"a": 1})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"] == "/problems/service-unavailable"
    assert without_key.status_code == 201
    assert app.created == 1


async def test_operations_without_the_parameter_ignore_the_header() -> None:
    with private_redis() as server:
        app = Thing()
        async with client_of(app, server) as client:
            server.kill()  # never consulted
            first = await client.post("/other", json={}, headers={"Idempotency-Key": "k1"})
            second = await client.post("/other", json={}, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers
    assert app.created == 2


async def test_a_retry_sent_the_moment_the_answer_arrived_is_replayed_not_refused() -> None:
    """A client retries as soon as it has the answer's last bytes (its connection dropped, say): the record must
    already be there, or the retry is a 409 "still running" for a request that is over. Found by the semantic
    check `idempotent_replay` against a live server, where uvicorn sends the answer before the app returns."""
    store = MemoryIdempotencyStore(ttl_seconds=60, lease_seconds=5)
    idempotency = Idempotency(store=store, sealer=ResponseSealer("a test secret long enough"), lease_seconds=5)
    app = Thing()
    middleware = IdempotencyMiddleware(app, operations=[CREATE])
    services = SimpleNamespace(idempotency=idempotency)
    retried: list[Message] = []

    def scope() -> Scope:
        return {
            "type": "http",
            "method": "POST",
            "path": "/things",
            "headers": [(b"idempotency-key", b"k-now"), (b"content-type", b"application/json")],
            "client": ("192.0.2.1", 1234),
            "state": Running(services, {}, cast(Authenticator, None), Lifecycle()).as_lifespan_state(),
        }

    async def receive() -> Message:
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    async def collect(message: Message) -> None:
        retried.append(message)

    async def client_retrying_at_the_last_byte(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await middleware(scope(), receive, collect)

    await middleware(scope(), receive, client_retrying_at_the_last_byte)

    assert app.created == 1
    start = retried[0]
    assert start["status"] == 201
    assert (b"idempotent-replayed", b"true") in start["headers"]
    assert retried[1]["body"] == b'{"id": 1}'
