"""Retries with exponential backoff and jitter, `Retry-After` honoured, as a transport under the httpx client.

Written here rather than taken from `httpx-retries`: which requests may be retried depends on Lexica's contract
(a POST only when it carries the `Idempotency-Key` the spec declares for it; a 409 only when its problem says the
first request with that key still runs), a response body is read inside the retry loop so that a connection
dropped mid-body is retried too, and the per-call `max_retries` travels in the request's extensions. The
runtimes of the best generated SDKs (Stainless's, e.g. `openai`) make the same choices in their own client.

Retried: connection errors and timeouts, 408, 429, 500, 502, 503, 504, and 409 `idempotency-key-in-use`; for
GET, HEAD, OPTIONS, PUT and DELETE (idempotent by definition), for any request with an `Idempotency-Key`, and for
any write with `If-Match` (a PATCH, or a POST adding words to a list): its precondition makes a repeat harmless.
The price: when a conditional write succeeded but its response was lost, the retry answers 412 (the ETag moved
on), so the caller re-reads and finds its change applied. A request whose body is a one-shot
stream (an NDJSON upload from a generator) is never retried: it cannot be sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx

from lexica_client.errors import REQUEST_ID_HEADER, APIConnectionError, APITimeoutError, retry_after_seconds

logger = logging.getLogger("lexica_client")

DEFAULT_MAX_RETRIES = 2
MAX_RETRIES_EXTENSION = "lexica_max_retries"  # a request's own retry budget (per-call `max_retries`)
STREAM_EXTENSION = "lexica_stream"  # the caller streams the body: the transport must not read it first
INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0  # a longer Retry-After is not waited for: the error goes to the caller

_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_KEY_IN_USE = "/problems/idempotency-key-in-use"
_STREAMED_MEDIA_TYPES = ("text/event-stream", "application/x-ndjson")


def streamed(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether the caller reads the body as it arrives (an event stream, an NDJSON download): not read here."""
    if response.status_code >= 400:
        return False
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return bool(request.extensions.get(STREAM_EXTENSION)) or media_type in _STREAMED_MEDIA_TYPES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    initial_backoff: float = INITIAL_BACKOFF_SECONDS
    max_backoff: float = MAX_BACKOFF_SECONDS
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS

    def budget(self, request: httpx.Request) -> int:
        value = request.extensions.get(MAX_RETRIES_EXTENSION)
        return self.max_retries if value is None else max(int(str(value)), 0)

    def backoff(self, retry: int) -> float:
        """Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... (capped at 8 s), times a random factor in [0.75, 1]."""
        delay = min(self.initial_backoff * 2.0**retry, self.max_backoff)
        return delay * (1 - 0.25 * random.random())  # noqa: S311 (timing jitter, not a secret)

    def pause(self, retry: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before the next attempt; None when the server asks for longer than we wait."""
        if response is not None:
            asked = retry_after_seconds(response.headers.get("retry-after"))
            if asked is not None:
                return None if asked > self.max_retry_after else asked
        return self.backoff(retry)


def may_repeat(request: httpx.Request) -> bool:
    """Whether sending `request` twice is safe (and possible: its body is not a one-shot stream)."""
    if not isinstance(request.stream, httpx.ByteStream):
        return False
    if request.method in _IDEMPOTENT_METHODS or "idempotency-key" in request.headers:
        return True
    return "if-match" in request.headers  # a conditional write: a repeat after a success is a 412, not a second write


def _key_in_use(response: httpx.Response) -> bool:
    try:
        document = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(document, dict) and document.get("type") == _KEY_IN_USE


def retryable_status(response: httpx.Response) -> bool:
    """Whether the response's status says a later attempt may succeed (its body has been read)."""
    if response.status_code in _RETRIED_STATUSES:
        return True
    return response.status_code == 409 and _key_in_use(response)


def _connection_error(error: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {error!r}", request=request)
    return APIConnectionError(f"Connection error: {error!r}", request=request)


def _log_attempt(
    request: httpx.Request, attempt: int, response: httpx.Response | None, error: Exception | None
) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if response is not None:
        logger.debug(
            "%s %s -> %s (attempt %d, request id %s)",
            request.method,
            request.url.raw_path.decode("ascii", "replace"),
            response.status_code,
            attempt,
            response.headers.get(REQUEST_ID_HEADER),
        )
    else:
        logger.debug(
            "%s %s -> %r (attempt %d)", request.method, request.url.raw_path.decode("ascii", "replace"), error, attempt
        )


def _log_retry(request: httpx.Request, retry: int, budget: int, wait: float, why: str) -> None:
    logger.info(
        "Retrying %s %s in %.2f s (retry %d of %d): %s",
        request.method,
        request.url.raw_path.decode("ascii", "replace"),
        wait,
        retry,
        budget,
        why,
    )


class _GuardedStream(httpx.SyncByteStream):
    """A streamed response body whose dropped connection raises `APIConnectionError`, not a raw httpx error."""

    def __init__(self, inner: httpx.SyncByteStream, request: httpx.Request) -> None:
        self._inner, self._request = inner, request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except httpx.TransportError as error:
            raise _connection_error(error, self._request) from error

    def close(self) -> None:
        self._inner.close()


class _AsyncGuardedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner, self._request = inner, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TransportError as error:
            raise _connection_error(error, self._request) from error

    async def aclose(self) -> None:
        await self._inner.aclose()


def _guarded(response: httpx.Response, request: httpx.Request) -> httpx.Response:
    stream = response.stream
    if isinstance(stream, httpx.SyncByteStream):
        wrapped: httpx.SyncByteStream | httpx.AsyncByteStream = _GuardedStream(stream, request)
    else:
        assert isinstance(stream, httpx.AsyncByteStream)
        wrapped = _AsyncGuardedStream(stream, request)
    return httpx.Response(
        response.status_code, headers=response.headers, stream=wrapped, extensions=response.extensions
    )


class _Attempts:
    """The attempts of one request: what follows each failure, as `RetryPolicy` says; both transports use it."""

    def __init__(self, request: httpx.Request, policy: RetryPolicy) -> None:
        self._request, self._policy = request, policy
        self._budget = policy.budget(request) if may_repeat(request) else 0
        self._retry = 0

    def after_error(self, error: httpx.TransportError) -> float:
        """Seconds to wait before the next attempt; raises `APIConnectionError` when no attempt is left."""
        _log_attempt(self._request, self._retry + 1, None, error)
        if self._retry >= self._budget:
            raise _connection_error(error, self._request) from error
        wait = self._policy.backoff(self._retry)
        self._retry += 1
        _log_retry(self._request, self._retry, self._budget, wait, repr(error))
        return wait

    def after_response(self, response: httpx.Response) -> float | None:
        """Seconds to wait before the next attempt; None when `response` is the answer (its body has been read)."""
        _log_attempt(self._request, self._retry + 1, response, None)
        if self._retry >= self._budget or not retryable_status(response):
            return None
        pause = self._policy.pause(self._retry, response)
        if pause is None:
            return None
        self._retry += 1
        _log_retry(self._request, self._retry, self._budget, pause, f"status {response.status_code}")
        return pause


class RetryTransport(httpx.BaseTransport):
    """Sends each request through `inner`, again after a retryable failure, as `RetryPolicy` says."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy) -> None:
        self._inner, self._policy = inner, policy
        self.sleep: Callable[[float], None] = time.sleep  # how the pauses are taken; a test may record them

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempts = _Attempts(request, self._policy)
        while True:
            try:
                response = self._inner.handle_request(request)
                if streamed(request, response):
                    return _guarded(response, request)
                response.read()  # inside the loop: a connection dropped mid-body is retried too
            except httpx.TransportError as error:
                self.sleep(attempts.after_error(error))
                continue
            pause = attempts.after_response(response)
            if pause is None:
                return response
            response.close()
            self.sleep(pause)

    def close(self) -> None:
        self._inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """`RetryTransport` for `httpx.AsyncClient`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._inner, self._policy = inner, policy
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # a test may record the pauses instead

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempts = _Attempts(request, self._policy)
        while True:
            try:
                response = await self._inner.handle_async_request(request)
                if streamed(request, response):
                    return _guarded(response, request)
                await response.aread()
            except httpx.TransportError as error:
                await self.sleep(attempts.after_error(error))
                continue
            pause = attempts.after_response(response)
            if pause is None:
                return response
            await response.aclose()
            await self.sleep(pause)

    async def aclose(self) -> None:
        await self._inner.aclose()
