"""Answers 408 when a client stops sending its request body: a slow-body client must not hold a request open.

The request head has its own deadline in the HTTP protocol (`lexica.platform.server`): this middleware bounds
the pauses between the parts of the body, measured while the app waits for the next part. Once the body is
complete, `receive` is passed through untouched (streaming responses wait on it for the client's disconnect).
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.problems import problem_response


class _BodyTimedOut(HTTPException):
    """Raised from `receive`; an HTTPException so that apps answer it quietly rather than log a 500."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"No part of the request body arrived for {seconds:g} s.")


class BodyTimeoutMiddleware:
    """Answers 408 (and closes the connection) when `timeout` seconds pass without the next part of the body.

    As for the body size limit, the 408 replaces whatever the app answers to the error; if the app had already
    started its response, the exchange just stops there.
    """

    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_complete = False
        timed_out = False
        app_started = False

        async def timed_receive() -> Message:
            nonlocal body_complete, timed_out
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise _BodyTimedOut(self.timeout) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal app_started
            if timed_out:
                return  # the app's answer to the timeout; the 408 below replaces it
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not app_started:
            response = problem_response(
                408,
                "Request Timeout",
                f"The request body stopped arriving: no part of it came for {self.timeout:g} s.",
                type_="/problems/request-timeout",
                instance=scope.get("raw_path", b"").decode("latin-1") or scope["path"],
                # uvicorn then closes the connection instead of waiting for the rest of the body.
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
