"""`Idempotency-Key` for POST requests (IETF draft-ietf-httpapi-idempotency-key-header), as pure ASGI.

The first request with a key runs and its response is stored; a retry with the same key and body gets that
response again (`Idempotent-Replayed: true`) and creates nothing new; the same key with another body is a 422,
and a retry while the first is still running a 409. Keys are scoped to the caller's credentials, or to the
client address for anonymous calls, so nobody can replay another caller's response. 5xx responses and
throttling (408, 409, 429) are not stored: the client may try again.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.problems import problem_response

logger = logging.getLogger("lexica.idempotency")
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_NOT_STORED = frozenset({408, 409, 429})
_DROPPED_HEADERS = frozenset({"date", "server", "x-request-id", "ratelimit", "ratelimit-policy", "content-length"})


class Outcome(enum.Enum):
    NEW = "new"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in-flight"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def dumps(self) -> str:
        return json.dumps(
            {"status": self.status, "headers": self.headers, "body": base64.b64encode(self.body).decode()}
        )

    @classmethod
    def loads(cls, text: str) -> StoredResponse:
        data = json.loads(text)
        return cls(
            data["status"], [(str(name), str(value)) for name, value in data["headers"]], base64.b64decode(data["body"])
        )


class IdempotencyStore(Protocol):
    async def begin(self, key: str, fingerprint: str) -> tuple[Outcome, StoredResponse | None]: ...

    async def finish(self, key: str, fingerprint: str, response: StoredResponse) -> None: ...

    async def abandon(self, key: str) -> None: ...


class MemoryIdempotencyStore:
    """For a single process (the embedded default)."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self._entries: TTLCache[str, tuple[str, StoredResponse | None]] = TTLCache(max_entries, ttl_seconds)

    async def begin(self, key: str, fingerprint: str) -> tuple[Outcome, StoredResponse | None]:
        found = self._entries.get(key)
        if found is None:
            self._entries[key] = (fingerprint, None)
            return Outcome.NEW, None
        stored_fingerprint, response = found
        if stored_fingerprint != fingerprint:
            return Outcome.MISMATCH, None
        return (Outcome.IN_FLIGHT, None) if response is None else (Outcome.REPLAY, response)

    async def finish(self, key: str, fingerprint: str, response: StoredResponse) -> None:
        self._entries[key] = (fingerprint, response)

    async def abandon(self, key: str) -> None:
        self._entries.pop(key, None)


class RedisIdempotencyStore:
    """Shared by every instance; `SET NX` makes exactly one of concurrent first requests the one that runs."""

    def __init__(self, redis: Redis, ttl_seconds: int, prefix: str = "lexica:idempotency:") -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = prefix

    async def begin(self, key: str, fingerprint: str) -> tuple[Outcome, StoredResponse | None]:
        name = self._prefix + key
        claimed = await self._redis.set(name, json.dumps({"fingerprint": fingerprint}), nx=True, ex=self._ttl)
        if claimed:
            return Outcome.NEW, None
        raw = await self._redis.get(name)
        if raw is None:  # expired between the two calls: claim again
            return await self.begin(key, fingerprint)
        data = json.loads(raw)
        if data["fingerprint"] != fingerprint:
            return Outcome.MISMATCH, None
        if "response" not in data:
            return Outcome.IN_FLIGHT, None
        return Outcome.REPLAY, StoredResponse.loads(data["response"])

    async def finish(self, key: str, fingerprint: str, response: StoredResponse) -> None:
        value = json.dumps({"fingerprint": fingerprint, "response": response.dumps()})
        await self._redis.set(self._prefix + key, value, ex=self._ttl)

    async def abandon(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


def _caller(scope: Scope, headers: Headers) -> str:
    credentials = headers.get("authorization") or headers.get("x-api-key")
    if credentials:
        return "credentials:" + hashlib.sha256(credentials.encode()).hexdigest()
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


class IdempotencyMiddleware:
    """Uses the store the lifespan put in the request state (`state.lexica.idempotency`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state", {}).get("lexica")
        if scope["type"] != "http" or scope["method"] != "POST" or state is None:
            await self.app(scope, receive, send)
            return
        store: IdempotencyStore = state.idempotency
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            response = problem_response(
                422,
                "Validation Failed",
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                type_="/problems/validation",
                extra={
                    "errors": [{"location": ["header", "Idempotency-Key"], "message": "Invalid key.", "type": "key"}]
                },
            )
            await response(scope, receive, send)
            return
        body = await _read_body(receive)
        fingerprint = hashlib.sha256(
            b"\n".join(
                [scope["path"].encode(), scope.get("query_string", b""), headers.get("content-type", "").encode(), body]
            )
        ).hexdigest()
        store_key = hashlib.sha256(f"{_caller(scope, headers)}\n{key}".encode()).hexdigest()
        try:
            outcome, stored = await store.begin(store_key, fingerprint)
        except RedisError:
            logger.warning("idempotency store unavailable; running the request without replay protection")
            await self.app(scope, _replay_body(body), send)
            return
        if outcome is Outcome.MISMATCH:
            response = problem_response(
                422,
                "Idempotency Key Reused",
                "This Idempotency-Key was used with another request body; use a new key for a new request.",
                type_="/problems/idempotency-key-reused",
                extra={"errors": [{"location": ["header", "Idempotency-Key"], "message": "Reused.", "type": "reused"}]},
            )
            await response(scope, receive, send)
            return
        if outcome is Outcome.IN_FLIGHT:
            response = problem_response(
                409,
                "Conflict",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                type_="/problems/idempotency-key-in-use",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        if outcome is Outcome.REPLAY and stored is not None:
            await _send_stored(stored, send)
            return
        await self._run_and_store(store, scope, body, send, store_key, fingerprint)

    async def _run_and_store(
        self, store: IdempotencyStore, scope: Scope, body: bytes, send: Send, store_key: str, fingerprint: str
    ) -> None:
        status = 500
        response_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                    if name.decode("latin-1").lower() not in _DROPPED_HEADERS
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay_body(body), capture)
        except BaseException:
            await store.abandon(store_key)
            raise
        if status >= 500 or status in _NOT_STORED:
            await store.abandon(store_key)
        else:
            await store.finish(store_key, fingerprint, StoredResponse(status, response_headers, b"".join(chunks)))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _send_stored(stored: StoredResponse, send: Send) -> None:
    start: Message = {"type": "http.response.start", "status": stored.status, "headers": []}
    headers = MutableHeaders(scope=start)
    for name, value in stored.headers:
        headers.append(name, value)
    headers["Content-Length"] = str(len(stored.body))
    headers["Idempotent-Replayed"] = "true"
    await send(start)
    await send({"type": "http.response.body", "body": stored.body})


def build_store(redis: Redis | None, ttl_seconds: int) -> IdempotencyStore:
    return RedisIdempotencyStore(redis, ttl_seconds) if redis is not None else MemoryIdempotencyStore(ttl_seconds)
