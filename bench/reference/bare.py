"""The baseline: a bare ASGI callable answering the entry's stored bytes (404 to any other path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.reference.entry import BODY, PATH

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

OK_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
NOT_FOUND_HEADERS = [(b"content-length", b"0")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up; returning tells the server so
        return
    found = scope["path"] == PATH
    await send(
        {
            "type": "http.response.start",
            "status": 200 if found else 404,
            "headers": OK_HEADERS if found else NOT_FOUND_HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": BODY if found else b""})
