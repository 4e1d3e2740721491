"""The fast path of cached entry lookups answers exactly what the middleware stack answers.

Two apps over the same database, one with the fast path and one without, get the same raw ASGI requests in lockstep;
status, every header (in order) and the body must be equal, but for the request ids each app makes up and the
seconds of the rate-limit reset. A probe inside the front tells whether the stack was entered, so each case also
checks that the fast path answered what it should answer and left alone what it should leave alone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

import pytest
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Receive, Scope, Send

from lexica._generated.routes import OPERATIONS, PARAMETER_MODELS
from lexica.app import LexicaApp, create_app
from lexica.platform.binding import OperationInfo
from lexica.words.fast_lookup import FastEntryLookup, FastPathMismatch
from tests.conftest import make_settings

APPLE = "/api/v1/words/apple"
QUOTA = 40  # anonymous requests a minute: the rate-limit case spends the rest of it
_GENERATED_ID = re.compile(rb"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    entered_stack: bool


class StackProbe:
    """The stack's outermost middleware: records that a request got past the front."""

    entered = 0
    state: Any = None  # the app state of the last request that entered the stack

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            StackProbe.entered += 1
            StackProbe.state = scope["state"].get("lexica")
        await self.app(scope, receive, send)


async def call(app: Any, path: str, headers: Sequence[tuple[str, str]] = (), **scope: Any) -> Answer:
    raw_path, _, query = path.partition("?")
    request: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"lexica.test"), *((k.lower().encode(), v.encode("latin-1")) for k, v in headers)],
        "client": ("203.0.113.7", 50000),
        "server": ("lexica.test", 80),
        **scope,
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    before = StackProbe.entered
    await app(request, receive, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return Answer(start["status"], list(start["headers"]), body, StackProbe.entered > before)


def comparable(answer: Answer) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What must be equal: generated request ids and reset seconds (each app has its own clock) normalised."""
    headers = []
    for name, value in answer.headers:
        if name == b"x-request-id" and _GENERATED_ID.match(value):
            value = b"<generated>"
        elif name == b"ratelimit":
            value = re.sub(rb";t=\d+", b";t=<s>", value)
        elif name == b"retry-after":
            value = b"<s>"
        headers.append((name, value))
    body = re.sub(rb"retry in \d+ seconds?", b"retry in <s>", answer.body)
    body = re.sub(rb'"request_id":"[0-9a-f]{32}"', b'"request_id":"<generated>"', body)
    return answer.status, headers, body


@pytest.fixture(params=["CORS on", "CORS off"])
async def apps(letter_a_database: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Any]]:
    """(with the fast path, without), rate limited, with CORS on or off."""
    served = []
    managers = []
    for fast in (True, False):
        settings = make_settings(
            letter_a_database,
            entry_fast_path=fast,
            rate_limit_enabled=True,
            rate_limit_anonymous=f"{QUOTA}/minute",
            cors_origins=["https://app.example"] if request.param == "CORS on" else [],
        )
        app = create_app(settings)
        app.add_middleware(StackProbe)
        manager = LifespanManager(app)
        served.append(await manager.__aenter__())
        managers.append(manager)
    try:
        yield served[0].app, served[1].app
    finally:
        for manager in managers:
            await manager.__aexit__(None, None, None)


async def both(apps: tuple[Any, Any], path: str, headers: Sequence[tuple[str, str]] = (), **scope: Any) -> Answer:
    """The request through both apps; asserts the answers are the same; returns the fast one's."""
    fast, stack = await call(apps[0], path, headers, **scope), await call(apps[1], path, headers, **scope)
    fast_answer, stack_answer = comparable(fast), comparable(stack)
    assert fast_answer[0] == stack_answer[0]  # status
    assert fast_answer[1] == stack_answer[1]  # headers
    assert fast_answer[2] == stack_answer[2]  # body
    assert stack.entered_stack
    return fast


async def test_cache_hits_are_answered_by_the_fast_path_exactly_as_by_the_stack(apps: tuple[Any, Any]) -> None:
    first = await both(apps, APPLE)
    assert first.status == 200
    assert first.entered_stack
    etag = dict(first.headers)[b"etag"].decode()
    answered_fast = [
        await both(apps, APPLE),
        await both(apps, "/api/v1/words/Apple"),  # another spelling of the same key, from the cache
        await both(apps, "/api/v1/words/%20APPLE%20"),
        await both(apps, APPLE, [("Accept", "application/json")]),
        await both(apps, APPLE, [("Accept", "text/html, application/*;q=0.5")]),
        await both(apps, APPLE, [("If-None-Match", etag)]),
        await both(apps, APPLE, [("If-None-Match", f'"0-0000000000000000", W/{etag}')]),
        await both(apps, APPLE, [("If-None-Match", "*")]),
        await both(apps, APPLE, [("If-None-Match", '"0-0000000000000000"')]),
        await both(apps, APPLE, [("If-None-Match", etag), ("If-None-Match", '"other"')]),  # the first field counts
        await both(apps, APPLE, [("Cache-Control", "max-age=60")]),
        await both(apps, APPLE, [("X-Request-ID", "client-chosen.id:1")]),
        await both(apps, APPLE, [("X-Request-ID", "not safe to echo")]),
        await both(apps, APPLE, [("User-Agent", "lexica-test"), ("Accept-Encoding", "gzip")]),
    ]
    assert [answer.status for answer in answered_fast] == [200] * 5 + [304] * 3 + [200, 304, 200, 200, 200, 200]
    assert not any(answer.entered_stack for answer in answered_fast)
    assert dict(answered_fast[-3].headers)[b"x-request-id"] == b"client-chosen.id:1"


async def test_what_the_fast_path_does_not_handle_goes_down_the_stack(apps: tuple[Any, Any]) -> None:
    await both(apps, APPLE)  # cached from here on
    left_alone = [
        await both(apps, APPLE, [("Accept", "text/html")]),  # 406
        await both(apps, APPLE, [("Cache-Control", "no-cache")]),  # a fresh read
        await both(apps, APPLE, [("If-None-Match", "x" * 2049)]),  # 422: longer than the spec allows
        await both(apps, APPLE, [("Authorization", "Bearer not-a-token")]),  # counted against a user, or refused
        await both(apps, APPLE, [("X-API-Key", "lx_nothing")]),
        await both(apps, APPLE, [("Origin", "https://app.example")]),  # CORS headers
        await both(apps, APPLE, [("Origin", "https://elsewhere.example")]),
        await both(apps, APPLE + "?verbose=1"),
        await both(apps, APPLE, method="HEAD"),  # 405: the spec declares GET only
        await both(apps, "/api/v1/words/no-such-headword-at-all"),  # 404, never cached
        await both(apps, "/api/v1/words/"),  # 422: empty headword
        await both(apps, "/api/v1/words/apple%09pie"),  # 422: a control character
        await both(apps, "/api/v1/words/" + "a" * 201),  # 422: too long
        await both(apps, "/api/v1/words"),  # another operation
        await both(apps, APPLE, [("Content-Length", "3")]),
    ]
    assert all(answer.entered_stack for answer in left_alone)
    assert [answer.status for answer in left_alone][:3] == [406, 200, 422]


async def test_the_quota_is_spent_and_refused_alike(apps: tuple[Any, Any]) -> None:
    await both(apps, APPLE)
    statuses = [(await both(apps, APPLE)).status for _ in range(QUOTA)]
    assert statuses == [200] * (QUOTA - 1) + [429]
    refused = await both(apps, APPLE)
    assert refused.status == 429
    assert not refused.entered_stack
    assert dict(refused.headers)[b"content-type"] == b"application/problem+json"


async def test_each_fast_answer_carries_its_own_request_id(apps: tuple[Any, Any]) -> None:
    await both(apps, APPLE)
    ids = {dict((await call(apps[0], APPLE)).headers)[b"x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(_GENERATED_ID.match(value) for value in ids)


async def test_an_entry_the_cache_forgot_is_read_by_the_stack_again(apps: tuple[Any, Any]) -> None:
    """The fast path answers only from the entry cache, which every change empties of what it changed."""
    fast = apps[0]
    before = await call(fast, APPLE)
    assert (await call(fast, APPLE)).entered_stack is False
    assert StackProbe.state is not None
    StackProbe.state.words.forget_cached()  # as a write, here or on another instance, does
    after = await call(fast, APPLE)
    assert after.entered_stack
    assert after.body == before.body
    assert not (await call(fast, APPLE)).entered_stack


def operation(**changes: Any) -> tuple[OperationInfo, ...]:
    """The spec's operations with getEntry changed as given."""
    return tuple(replace(op, **changes) if op.operation_id == "getEntry" else op for op in OPERATIONS)


@pytest.mark.parametrize(
    "changes",
    [
        {"security": ("OAuth2Password",)},
        {"locations": {"headword": ("path", "headword"), "lang": ("query", "lang")}},
        {"produces": ("application/json", "text/html")},
        {"route_path": "/api/v1/words/{headword}/entry"},
        {"method": "POST"},
    ],
)
def test_the_fast_path_refuses_to_start_when_the_spec_changed_under_it(changes: dict[str, Any]) -> None:
    with pytest.raises(FastPathMismatch, match="getEntry"):
        FastEntryLookup(
            LexicaApp(),
            operations=operation(**changes),
            parameter_models=PARAMETER_MODELS,
            limiter=None,
        )
