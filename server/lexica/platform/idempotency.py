"""`Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header) for the operations that declare it, as pure ASGI.

Only operations whose spec lists the `IdempotencyKey` parameter take part (the generated `OperationInfo` says
which); elsewhere the header is ignored. Nothing of the body is held: the key is claimed first, then the app
runs with a `receive` that hashes the body as the app reads it (the route bindings authenticate and authorise
before they read a body, so a 401/403 costs no body at all), and the fingerprint is recorded with the response.

A retry of a finished request is answered from the record only after the caller's credentials are checked
again (logged out, revoked key or deleted account: no replay) and its body, read streaming and discarded, has
the first one's fingerprint (else 422). A retry while the first still runs is a 409. Not recorded, so the client
may try again: 401, 403, 408, 409, 413, 429, 5xx, and any request whose body the app did not read to the end.

When the store is unreachable the request is refused with 503 and `Retry-After` before anything is done; a store
failure after the app has answered is logged and changes nothing for the client, who already has the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.cancellation import cancel_until_done
from lexica.platform.idempotency_seal import Completed, ResponseSealer, StoredResponse
from lexica.platform.idempotency_store import Claimed, Done, IdempotencyStore, InFlight, build_store
from lexica.platform.problems import ProblemError, field_error, problem_response, validation_problem
from lexica.platform.running import running_of
from lexica.platform.security import authenticate_if_present
from lexica.platform.sparse_warnings import SparseWarning

if TYPE_CHECKING:
    from lexica.platform.binding import OperationInfo
    from lexica.settings import Settings

logger = logging.getLogger("lexica.idempotency")
HEADER = "idempotency-key"
STORE_ERRORS = (RedisError, OSError)  # RedisError includes the circuit breaker's (a ConnectionError)
RETRY_AFTER_SECONDS = 5
MAX_STORED_BODY_BYTES = 2 * 1_048_576
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_NOT_STORED = frozenset({401, 403, 408, 409, 413, 429})
_DROPPED_HEADERS = frozenset({"date", "server", "x-request-id", "ratelimit", "ratelimit-policy", "content-length"})


@dataclass(frozen=True, slots=True)
class Idempotency:
    """What the middleware needs from the app's state: the store, the sealer and the claim's lease."""

    store: IdempotencyStore
    sealer: ResponseSealer
    lease_seconds: float


def build_idempotency(redis: Redis | None, settings: Settings) -> Idempotency:
    lease = settings.idempotency_lease_seconds
    return Idempotency(
        store=build_store(redis, ttl_seconds=settings.idempotency_ttl_seconds, lease_seconds=lease),
        sealer=ResponseSealer(settings.effective_secret),
        lease_seconds=lease,
    )


def _caller(scope: Scope, headers: Headers) -> bytes:
    """Whose key it is: the credentials as sent (every scheme the authenticator reads), else the client address."""
    api_key, authorization = headers.get("x-api-key"), headers.get("authorization")
    if api_key is not None or authorization is not None:
        return f"credentials\n{api_key or ''}\n{authorization or ''}".encode()
    client = scope.get("client")
    return f"address\n{client[0] if client else 'unknown'}".encode()


def _instance(scope: Scope) -> str:
    raw_path: bytes = scope.get("raw_path") or b""
    return raw_path.decode("latin-1") or str(scope["path"])


def _fingerprinter(scope: Scope, headers: Headers) -> hashlib._Hash:
    """A hash of what makes two requests the same one; the body is added as it is read."""
    hasher = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b""), headers.get("content-type", "")):
        data = part if isinstance(part, bytes) else str(part).encode()
        hasher.update(len(data).to_bytes(8, "big") + data)
    return hasher


async def _reply(
    scope: Scope,
    receive: Receive,
    send: Send,
    problem: ProblemError,
) -> None:
    response = problem_response(
        problem.status,
        problem.title,
        problem.detail,
        type_=problem.type,
        instance=_instance(scope),
        headers=problem.headers,
        extra=problem.extra,
    )
    await response(scope, receive, send)


def _reused(detail: str) -> ProblemError:
    error = {"location": ["header", "Idempotency-Key"], "message": "Reused.", "type": "reused"}
    return ProblemError(
        422, detail, slug="idempotency-key-reused", title="Idempotency Key Reused", extra={"errors": [error]}
    )


class IdempotencyMiddleware:
    """Uses the `Idempotency` that the lifespan put in the request state (`state.lexica.idempotency`)."""

    def __init__(self, app: ASGIApp, *, operations: Iterable[OperationInfo]) -> None:
        self.app = app
        self._routes = [
            (operation, compile_path(operation.route_path)[0])
            for operation in operations
            if HEADER in operation.middleware_headers
        ]
        self._unreachable = SparseWarning(logger)

    def _operation(self, scope: Scope) -> OperationInfo | None:
        for operation, pattern in self._routes:
            if operation.method == scope["method"] and pattern.fullmatch(scope["path"]):
                return operation
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        running = running_of(scope.get("state")) if scope["type"] == "http" else None
        key = Headers(scope=scope).get(HEADER) if running is not None else None
        operation = self._operation(scope) if key is not None else None
        if operation is None or key is None or running is None:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            invalid = field_error(["header", "Idempotency-Key"], "Invalid key.", "key")
            problem = validation_problem("Idempotency-Key must be 1 to 255 visible ASCII characters.", invalid)
            await _reply(scope, receive, send, problem)
            return
        idempotency: Idempotency = running.app.idempotency
        headers = Headers(scope=scope)
        caller = _caller(scope, headers)
        store_key = idempotency.sealer.store_key(caller, key)
        try:
            claim = await idempotency.store.claim(store_key)
        except STORE_ERRORS as error:
            self._unreachable.warn("idempotency store unreachable, refusing keyed requests: %r", error)
            problem = ProblemError(
                503,
                "The Idempotency-Key store is unreachable; nothing was done. Retry shortly with the same key.",
                slug="service-unavailable",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await _reply(scope, receive, send, problem)
            return
        if isinstance(claim, InFlight):
            problem = ProblemError(
                409,
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                slug="idempotency-key-in-use",
                headers={"Retry-After": "1"},
            )
            await _reply(scope, receive, send, problem)
            return
        if isinstance(claim, Done):
            await self._replay(scope, receive, send, operation, idempotency, claim, caller, store_key)
            return
        run = _Run(idempotency, store_key, caller, claim, _fingerprinter(scope, headers))
        await run(self.app, scope, receive, send)

    async def _replay(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        operation: OperationInfo,
        idempotency: Idempotency,
        done: Done,
        caller: bytes,
        store_key: str,
    ) -> None:
        if operation.security:
            try:  # the credentials that made the first request must still be valid, and allowed
                await authenticate_if_present(Request(scope), operation)
            except ProblemError as problem:
                await _reply(scope, receive, send, problem)
                return
        completed = idempotency.sealer.open(done.sealed, caller=caller, store_key=store_key)
        fingerprint = _fingerprinter(scope, Headers(scope=scope))
        if not await _drain(receive, fingerprint):
            return  # the client went away
        if completed is None:
            logger.error("an Idempotency-Key's record cannot be opened; answering as a reused key")
            await _reply(scope, receive, send, _reused("This Idempotency-Key cannot be replayed; use a new key."))
            return
        if not hmac.compare_digest(completed.fingerprint, fingerprint.digest()):
            detail = "This Idempotency-Key was used with another request body; use a new key for a new request."
            await _reply(scope, receive, send, _reused(detail))
            return
        await _send_stored(completed.response, send)


async def _drain(receive: Receive, fingerprint: hashlib._Hash) -> bool:
    """Read the whole body into the hash, holding none of it; False if the client disconnected first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        fingerprint.update(message.get("body", b""))
        if not message.get("more_body", False):
            return True


class _Run:
    """One first request: runs the app, fingerprints the body as it is read, records or releases the claim."""

    def __init__(
        self, idempotency: Idempotency, store_key: str, caller: bytes, claim: Claimed, fingerprint: hashlib._Hash
    ) -> None:
        self.idempotency = idempotency
        self.store_key = store_key
        self.caller = caller
        self.claim = claim
        self.fingerprint = fingerprint
        self.body_read = False
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] | None = []  # None once the response is too large to record
        self.size = 0
        self.recorded = False

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.fingerprint.update(message.get("body", b""))
                if not message.get("more_body", False):
                    self.body_read = True
            return message

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                    if name.decode("latin-1").lower() not in _DROPPED_HEADERS
                ]
            elif message["type"] == "http.response.body":
                if self.chunks is not None:
                    body: bytes = message.get("body", b"")
                    self.size += len(body)
                    if self.size > MAX_STORED_BODY_BYTES:
                        self.chunks = None
                    else:
                        self.chunks.append(body)
                if not message.get("more_body", False):
                    # Recorded before the answer's last bytes leave: a client may retry the moment it has them,
                    # and its retry must find the answer (a replay), not a request still running (a 409).
                    await self._record()
            await send(message)

        renewal = asyncio.create_task(self._renew(), name="lexica-idempotency-lease")
        try:
            await app(scope, hashing_receive, capture)
        except BaseException:
            if not self.recorded:
                await self._release()
            raise
        finally:
            await cancel_until_done(renewal)
        if not self.recorded:  # the app ended without a complete answer
            await self._record()

    async def _renew(self) -> None:
        """Keeps the claim while the app runs (a long upload), so that only a dead process lets it lapse."""
        while True:
            await asyncio.sleep(self.idempotency.lease_seconds / 3)
            try:
                if not await self.idempotency.store.renew(self.store_key, self.claim):
                    logger.warning("an Idempotency-Key's claim lapsed while its request was running")
                    return
            except STORE_ERRORS:
                logger.warning("cannot renew an Idempotency-Key's claim", exc_info=True)

    async def _record(self) -> None:
        self.recorded = True
        if self.status >= 500 or self.status in _NOT_STORED or not self.body_read:
            await self._release()
            return
        if self.chunks is None:
            logger.error("a response too large to record for its Idempotency-Key; the key is released")
            await self._release()
            return
        response = StoredResponse(self.status, self.headers, b"".join(self.chunks))
        completed = Completed(self.fingerprint.digest(), response)
        sealed = self.idempotency.sealer.seal(completed, caller=self.caller, store_key=self.store_key)
        try:
            if not await self.idempotency.store.complete(self.store_key, self.claim, sealed):
                logger.warning("an Idempotency-Key was claimed again before its first request was recorded")
        except STORE_ERRORS:  # the client has its answer; a retry within the lease gets 409, later runs again
            logger.warning("cannot record the response of an Idempotency-Key", exc_info=True)

    async def _release(self) -> None:
        try:
            await self.idempotency.store.release(self.store_key, self.claim)
        except STORE_ERRORS:  # the claim lapses with its lease
            logger.warning("cannot release an Idempotency-Key", exc_info=True)


async def _send_stored(stored: StoredResponse, send: Send) -> None:
    start: Message = {"type": "http.response.start", "status": stored.status, "headers": []}
    headers = MutableHeaders(scope=start)
    for name, value in stored.headers:
        headers.append(name, value)
    headers["Content-Length"] = str(len(stored.body))
    headers["Idempotent-Replayed"] = "true"
    await send(start)
    await send({"type": "http.response.body", "body": stored.body})
