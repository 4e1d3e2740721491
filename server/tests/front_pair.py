"""Two apps over one database, with and without the front's fast paths, and requests sent to both in lockstep.

The answers must be equal — status, every header in order, the body — but for the request ids each app makes up
and the seconds of the rate-limit reset. A probe at the top of the middleware stack tells whether the stack was
entered, so a test can check that a fast path answered what it should and left alone what it should not.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Receive, Scope, Send

from lexica.app import create_app
from lexica.platform.running import running_of
from tests.conftest import make_settings

QUOTA = 40  # anonymous requests a minute: a rate-limit case spends the rest of it
GENERATED_ID = re.compile(rb"^[0-9a-f]{32}$")


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
            running = running_of(scope["state"])
            StackProbe.state = running.app if running is not None else None
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
        if name == b"x-request-id" and GENERATED_ID.match(value):
            value = b"<generated>"
        elif name == b"ratelimit":
            value = re.sub(rb";t=\d+", b";t=<s>", value)
        elif name == b"retry-after":
            value = b"<s>"
        headers.append((name, value))
    body = re.sub(rb"retry in \d+ seconds?", b"retry in <s>", answer.body)
    body = re.sub(rb'"request_id":"[0-9a-f]{32}"', b'"request_id":"<generated>"', body)
    return answer.status, headers, body


@asynccontextmanager
async def pair_of_apps(database_url: str, *, cors: bool) -> AsyncIterator[tuple[Any, Any]]:
    """(with the fast paths, without), rate limited, with CORS on or off, each with a `StackProbe`."""
    async with AsyncExitStack() as stack:
        served = []
        for fast in (True, False):
            settings = make_settings(
                database_url,
                fast_paths=fast,
                rate_limit_enabled=True,
                rate_limit_anonymous=f"{QUOTA}/minute",
                cors_origins=["https://app.example"] if cors else [],
            )
            app = create_app(settings)
            app.add_middleware(StackProbe)
            served.append((await stack.enter_async_context(LifespanManager(app))).app)
        yield served[0], served[1]


async def both(apps: tuple[Any, Any], path: str, headers: Sequence[tuple[str, str]] = (), **scope: Any) -> Answer:
    """The request through both apps; asserts the answers are the same; returns the fast one's."""
    fast, stack = await call(apps[0], path, headers, **scope), await call(apps[1], path, headers, **scope)
    fast_answer, stack_answer = comparable(fast), comparable(stack)
    assert fast_answer[0] == stack_answer[0]  # status
    assert fast_answer[1] == stack_answer[1]  # headers
    assert fast_answer[2] == stack_answer[2]  # body
    assert stack.entered_stack
    return fast
