"""What the app's front layers share: answering a request before the middleware stack, as the stack would.

A front layer (the entry fast path, replayed reads) answers only requests without anything the stack alone
handles, and then does for its answer what the stack's layers do for theirs, with the stack's own functions: the
request id (`RequestIdMiddleware`), the rate limit and its 429 (`RateLimitMiddleware`), `Vary: Origin` (CORS), the
security headers, the request metrics and the access log line — in the order the stack adds its headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Scope, Send

from lexica.platform.access_log import log_access
from lexica.platform.context import RequestContext, set_request_context
from lexica.platform.middleware import API_SECURITY_HEADERS, request_id_for
from lexica.platform.negotiation import acceptable
from lexica.platform.rate_limit import ClientIdentity, RateLimitDecision, RateLimiter, address_identity, refusal
from lexica.platform.request_tally import RequestTally

# Request headers whose handling lives in the stack alone (credentials, CORS, bodies): the stack answers. Without
# credentials the rate limiter identifies a request by its address alone (`address_identity`), here as there.
DEFERRED_HEADERS = frozenset(
    {b"authorization", b"x-api-key", b"cookie", b"origin", b"content-length", b"transfer-encoding", b"expect"}
)
Headers = list[tuple[bytes, bytes]]


def read_headers(scope: Scope, wanted: frozenset[bytes]) -> dict[bytes, str] | None:
    """The first value of each wanted request header (as the stack's `Headers.get` takes it), or None when the
    request carries a header only the stack handles."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in wanted:
            if name not in found:
                found[name] = value.decode("latin-1")
        elif name in DEFERRED_HEADERS:
            return None
    return found


class Acceptance:
    """Whether a request's `Accept` lets the operation answer (else the stack answers its 406)."""

    def __init__(self, produces: Sequence[str]) -> None:
        self._produces = tuple(produces)
        self._plain = frozenset({"*/*", *produces})  # what most requests carry: acceptable without parsing

    def __call__(self, accept: str | None) -> bool:
        return accept is None or accept in self._plain or acceptable(accept, self._produces)


class FrontAnswers:
    """Sends an answer for a request the stack did not see, with everything the stack's layers add to one."""

    def __init__(
        self,
        *,
        limiter: RateLimiter | None,
        tally: RequestTally,
        identify_without_credentials: Callable[[Scope], ClientIdentity] = address_identity,
        cors_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """`identify_without_credentials`: the rate limiter's identity of a request without credentials, as the
        stack's `identify` falls back to it; `cors_headers`: what the CORS layer adds to the response to a
        request without `Origin`."""
        self._limiter = limiter
        self._tally = tally
        self._identify = identify_without_credentials
        self.closing: Headers = [*cors_headers, *API_SECURITY_HEADERS]  # after the rate-limit headers

    async def spend(self, scope: Scope) -> RateLimitDecision | None:
        """Spends the request's quota as the stack would (None without rate limiting): before a front layer does
        work a refused request must not cause, such as a storage read. Pass the decision on to `send`, or to the
        stack with `already_spent`."""
        return None if self._limiter is None else await self._limiter.hit(self._identify(scope))

    async def send(
        self,
        scope: Scope,
        send: Send,
        *,
        route: str,
        started: float,
        incoming_id: str,
        status: int,
        head: Headers,
        body: bytes,
        spent: RateLimitDecision | None = None,
    ) -> None:
        """`route`: the operation's path template; `head`: the headers the operation's own answer starts with
        (what the route's response sets); `spent`: the quota already spent on this request (`spend`), else it is
        spent here."""
        request_id = request_id_for(incoming_id)
        scope["state"]["request_id"] = request_id
        client = scope.get("client")
        set_request_context(RequestContext(request_id=request_id, client_ip=client[0] if client else None))
        closing = [*self.closing, (b"x-request-id", request_id.encode("latin-1"))]
        limiter = self._limiter
        if limiter is not None:
            decision = spent or await limiter.hit(self._identify(scope))
            if not decision.allowed:
                await _refuse(scope, send, limiter, decision, closing)
                self._finished(scope, route, 429, started, request_id)
                return
            closing[:0] = limiter.response_headers(decision)
        await send({"type": "http.response.start", "status": status, "headers": head + closing})
        await send({"type": "http.response.body", "body": body})
        self._finished(scope, route, status, started, request_id)

    def _finished(self, scope: Scope, route: str, status: int, started: float, request_id: str) -> None:
        seconds = time.perf_counter() - started
        self._tally.finished(scope["method"], route, status, seconds)
        log_access(scope, status, seconds, request_id, route=route, user_id=None)  # a front answer has no credentials

    def entity_headers(self, headers: Sequence[tuple[bytes, bytes]]) -> Headers | None:
        """The headers the operation's own answer set, from a complete answer the stack sent (those the stack's
        layers add taken off); None when the answer does not end as this class would end it."""
        names = [name for name, _ in headers]
        if names.count(b"x-request-id") != 1 or names[-1] != b"x-request-id":
            return None
        kept = list(headers[:-1])
        if self._limiter is not None:
            if b"ratelimit-policy" not in names:
                return None
            at = names.index(b"ratelimit-policy")
            if names[at + 1 : at + 2] != [b"ratelimit"]:
                return None
            head, tail = kept[:at], kept[at + 2 :]
        else:
            head, tail = kept[: len(kept) - len(self.closing)], kept[len(kept) - len(self.closing) :]
        return head if tail == self.closing else None


async def _refuse(
    scope: Scope, send: Send, limiter: RateLimiter, decision: RateLimitDecision, closing: Headers
) -> None:
    """The stack's 429, with what the layers outside the rate limiter add to it."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *closing]
        await send(message)

    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    refused: ASGIApp = refusal(limiter, scope, decision)
    await refused(scope, no_body, send_closing)
