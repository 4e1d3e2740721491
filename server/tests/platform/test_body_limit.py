from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from lexica.platform.body_limit import BodySizeLimitMiddleware

LIMIT = 1000


async def echo_length(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def answers_errors_itself(request: Request) -> Response:
    try:
        await request.body()
    except Exception:
        return PlainTextResponse("the app's own error answer", status_code=500)
    return PlainTextResponse("read")


def tiny_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/echo", echo_length, methods=["POST"]),
            Route("/own-errors", answers_errors_itself, methods=["POST"]),
        ]
    )


def client_of(app: BodySizeLimitMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lexica.test")


async def chunks(count: int, size: int = 100) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def assert_too_large_problem(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/payload-too-large"
    assert problem["status"] == 413
    assert str(LIMIT) in problem["detail"]


async def test_bodies_up_to_the_limit_reach_the_app() -> None:
    async with client_of(BodySizeLimitMiddleware(tiny_app(), max_bytes=LIMIT)) as client:
        small = await client.post("/echo", content=b"x" * 10)
        exact = await client.post("/echo", content=b"x" * LIMIT)
        streamed = await client.post("/echo", content=chunks(10))

    assert (small.status_code, small.text) == (200, "10")
    assert (exact.status_code, exact.text) == (200, str(LIMIT))
    assert (streamed.status_code, streamed.text) == (200, str(LIMIT))


async def test_declared_content_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    calls = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal calls
        calls += 1

    async with client_of(BodySizeLimitMiddleware(app, max_bytes=LIMIT)) as client:
        response = await client.post("/echo", content=b"x" * (LIMIT + 1))

    assert_too_large_problem(response)
    assert response.json()["instance"] == "/echo"
    assert response.headers["connection"] == "close"
    assert calls == 0


async def test_streamed_body_without_content_length_is_refused_once_it_grows_past_the_limit() -> None:
    async with client_of(BodySizeLimitMiddleware(tiny_app(), max_bytes=LIMIT)) as client:
        request = client.build_request("POST", "/echo", content=chunks(11))
        response = await client.send(request)

    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_too_large_problem(response)


async def test_the_apps_own_answer_to_an_overflow_is_replaced_by_the_413() -> None:
    async with client_of(BodySizeLimitMiddleware(tiny_app(), max_bytes=LIMIT)) as client:
        response = await client.post("/own-errors", content=chunks(11))

    assert_too_large_problem(response)


async def test_overflow_after_the_app_started_its_response_just_stops_it() -> None:
    async def streams_then_reads(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.body", "body": b"never sent"})

    incoming: list[Message] = [
        {"type": "http.request", "body": b"x" * 600, "more_body": True},
        {"type": "http.request", "body": b"x" * 600, "more_body": False},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/stream", "headers": []}
    await BodySizeLimitMiddleware(streams_then_reads, max_bytes=LIMIT)(scope, receive, send)

    assert [m.get("status", m.get("body")) for m in sent] == [200, b"partial"]


async def test_errors_unrelated_to_the_body_propagate() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async with client_of(BodySizeLimitMiddleware(broken, max_bytes=LIMIT)) as client:
        with pytest.raises(RuntimeError, match="boom"):
            await client.post("/echo", content=b"x")


async def test_non_http_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        raise AssertionError("the middleware must not read from the channel")

    async def send(message: Message) -> None:
        raise AssertionError("the middleware must not send on the channel")

    await BodySizeLimitMiddleware(app, max_bytes=1)({"type": "lifespan"}, receive, send)

    assert seen == ["lifespan"]


def test_limit_must_be_positive() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None: ...

    with pytest.raises(ValueError, match="at least 1"):
        BodySizeLimitMiddleware(app, max_bytes=0)
