"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs ~0.3 ms a request, these cost microseconds)."""

from __future__ import annotations

import logging
import os
import random
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.access_log import log_access
from lexica.platform.context import RequestContext, begin_request_note, set_request_context
from lexica.platform.problems import problem_response, unavailable_dependency_problem, unstorable_text_problem
from lexica.platform.request_tally import RequestTally
from lexica.platform.sparse_warnings import SparseWarning

error_log = logging.getLogger("lexica.errors")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_DOCS_PATHS = ("/docs", "/redoc")
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_DOCS_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
API_SECURITY_HEADERS = (*_DOCS_SECURITY_HEADERS, (b"content-security-policy", _API_CSP.encode()))


# Request ids correlate log lines; they authorise nothing, so they must be unique, not secret: 128 bits from a
# generator seeded from the OS once per process, instead of a system call (os.urandom) on every request.
_ids = random.Random(os.urandom(32))  # noqa: S311


def request_id_for(incoming: str) -> str:
    """The client's `X-Request-ID` when it is safe to echo and log, else a new one (128 random bits)."""
    return incoming if _SAFE_REQUEST_ID.match(incoming) else f"{_ids.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Propagates a client's `X-Request-ID` when it is safe, or makes one; logs each request with it and counts
    it in the request metrics (`tally`; none for the server's own over-capacity answers)."""

    def __init__(self, app: ASGIApp, tally: RequestTally | None = None) -> None:
        self.app = app
        self.tally = tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = request_id_for(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        client = scope.get("client")
        set_request_context(RequestContext(request_id=request_id, client_ip=client[0] if client else None))
        started = time.perf_counter()
        status = 500
        note = begin_request_note()

        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if self.tally is not None:
                self.tally.finished(scope["method"], note.route, status, seconds)
            log_access(scope, status, seconds, request_id, route=note.route, user_id=note.user_id)


class UnhandledErrorMiddleware:
    """Answers an exception nothing else handled with a 500 problem document, from inside the middleware stack.

    Starlette's own ServerErrorMiddleware sits outside every middleware (so its 500 has no request id and no
    security headers) and re-raises, and uvicorn then drops the keep-alive connection without `Connection:
    close`: the client's next request on it fails. Here the response is complete and the connection stays usable.
    When the response had already started, nothing can be answered any more: the error propagates and the server
    closes the connection, which is the only honest end of a half-sent response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._unavailable = SparseWarning(error_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            request_id = scope.get("state", {}).get("request_id", "-")
            instance = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
            refused = None if started else unstorable_text_problem(exc, instance)
            if refused is not None:  # defence in depth: the spec's patterns refuse such text first
                error_log.warning(
                    "%s %s: text the database cannot store (request %s)", scope["method"], instance, request_id
                )
                await refused(scope, receive, send)
                return
            unavailable = None if started else unavailable_dependency_problem(exc, instance)
            if unavailable is not None:
                self._unavailable.warn("a dependency is unreachable, answering 503 (request %s): %r", request_id, exc)
                await unavailable(scope, receive, send)
                return
            error_log.error(
                "unhandled error on %s %s (request %s)%s",
                scope["method"],
                instance,
                request_id,
                "; the response had started: the connection is closed" if started else "",
                exc_info=exc,
                extra={"request_id": request_id},
            )
            if started:
                raise
            response = problem_response(
                500,
                "Internal Server Error",
                f"The server failed; the error has been logged with request id {request_id}.",
                instance=instance,
            )
            await response(scope, receive, send)


class SecurityHeadersMiddleware:
    """Sets the response headers that keep browsers from misusing API responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = _DOCS_SECURITY_HEADERS if scope["path"].startswith(_DOCS_PATHS) else API_SECURITY_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Pre-encoded, added where the response does not set its own (the docs pages set their CSP).
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in wanted if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
