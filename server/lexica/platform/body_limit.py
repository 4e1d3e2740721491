"""Refuses request bodies larger than the server accepts, whether declared up front or streamed."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.problems import problem_response


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so that apps answer it quietly rather than log a 500."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes.")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses malformed framing before we see it
    return None


class BodySizeLimitMiddleware:
    """Answers 413 when `Content-Length` exceeds `max_bytes`, or when a streamed body grows past it.

    A body that overflows while being read replaces whatever the app answers to the error with the 413; if the
    app had already started its response, the exchange just stops there.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        """`larger`: paths (e.g. an upload endpoint) that accept more than `max_bytes`, with their own limit."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.larger.get(scope["path"], self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > max_bytes:
            await self._too_large(scope, receive, send, max_bytes)
            return

        received = 0
        overflowed = False
        app_started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    overflowed = True
                    raise _BodyTooLarge(max_bytes)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal app_started
            if overflowed:
                return  # the app's answer to the overflow; the 413 below replaces it
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not overflowed:
                raise
        if overflowed and not app_started:
            await self._too_large(scope, receive, send, max_bytes)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = problem_response(
            413,
            "Payload Too Large",
            f"The request body is larger than the {max_bytes} bytes this server accepts.",
            type_="/problems/payload-too-large",
            instance=scope.get("raw_path", b"").decode("latin-1") or scope["path"],
            # uvicorn then closes the connection instead of reading and discarding the rest of the body.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
