"""The baseline: a bare ASGI callable answering ~1 KB of pre-serialised JSON."""

from __future__ import annotations

import json

from starlette.types import Receive, Scope, Send

BODY = json.dumps({"headword": "apple", "text": "x" * 1000}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
