"""`Realtime`: the WebSocket `/api/v1/ws` (asyncapi/lexica.yaml) as an async iterator of typed events.

    async with Realtime("http://127.0.0.1:8000", api_key=key, topics=[f"list:{list_id}", "entries"]) as rt:
        async for message in rt:  # JobProgress | JobFinished | ListChanged | EntryChanged | ErrorMessage
            ...

One task owns the socket: it reads every frame, hands replies to the calls waiting for them and events to the
iterator. A dropped connection, or a close worth a retry (1001 shutting down, 1011, 1012, 1013, 4408, 4429), is
followed by a reconnect after an exponential backoff with jitter, every topic held subscribed again; job events a
replay repeats are dropped by `event_id`. Refused credentials (handshake 401/403, close 4401/4403) raise
`RealtimeAuthError`, unless `auth_headers` now gives other ones (a refreshed token). An `ErrorMessage` in the stream
is a subscription the server ended (`access_ended`), a topic refused on resubscribing, or a message it refused.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import TypeAdapter, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from lexica_client._version import __version__
from lexica_client.errors import APIConnectionError, LexicaError, retry_after_seconds
from lexica_client.events import (
    EntryChanged,
    ErrorCode,
    ErrorMessage,
    JobFinished,
    JobProgress,
    ListChange,
    ListChanged,
    Ping,
    Pong,
    ServerMessageUnion,
    Subscribe,
    Subscribed,
    Topic,
    Unsubscribe,
    Unsubscribed,
)

logger = logging.getLogger("lexica_client")

WS_PATH = "/api/v1/ws"
USER_AGENT = f"lexica-client/{__version__} (python; websockets)"
AUTH_CLOSE_CODES = frozenset({4401, 4403})
BUSY_CLOSE_CODE = 4429
DEFAULT_MAX_BUFFERED = 1_000  # messages waiting for the consumer before the socket is no longer read
_CREDENTIAL_HEADERS = ("authorization", "x-api-key")
_RESUBSCRIBE_PACE_SECONDS = 0.1  # one topic at a time stays within the server's default 10 messages a second

Event = JobProgress | JobFinished | ListChanged | EntryChanged | ErrorMessage
AuthHeaders = Callable[[], Mapping[str, str] | Awaitable[Mapping[str, str]]]
_Reply = Subscribed | Unsubscribed | Pong | ErrorMessage
_SERVER_MESSAGE: TypeAdapter[_Reply | Event] = TypeAdapter(ServerMessageUnion)


class RealtimeError(LexicaError):
    """A failure of the WebSocket client."""


class SubscriptionError(RealtimeError):
    """The server refused a `subscribe` (all or nothing: none of its topics was subscribed)."""

    def __init__(self, topics: Iterable[str], code: ErrorCode, detail: str) -> None:
        self.topics, self.code, self.detail = tuple(topics), code, detail
        super().__init__(f"{code.value}: {detail}")


class RealtimeClosedError(RealtimeError):
    """The connection ended for good: credentials refused, reconnect attempts used up, or the client closed."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code  # the close code or handshake status, when the server gave one
        super().__init__(message)


class RealtimeAuthError(RealtimeClosedError):
    """The server refused the credentials (handshake 401/403, or close 4401/4403): get fresh ones."""


class _Lost(Exception):
    """The connection a request was sent on went away before its reply; send it again on the next one."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Reconnecting: at most `attempts` failures in a row; the n-th waits min(max_delay, initial_delay * 2**(n-1))
    times a random factor in [0.5, 1]; after a 4429 close or a 429 handshake, at least `busy_delay` seconds."""

    attempts: int = 8
    initial_delay: float = 0.5
    max_delay: float = 30.0
    busy_delay: float = 5.0

    def delay(self, failures: int, floor: float = 0.0) -> float:
        backoff = min(self.max_delay, self.initial_delay * 2.0 ** (failures - 1))
        return max(floor, backoff * random.uniform(0.5, 1.0))  # noqa: S311 (timing jitter, not a secret)


def ws_url(base_url: str) -> str:
    """The WebSocket address of an API base URL: http → ws, https → wss, `/api/v1/ws` after its path."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http(s) or ws(s) URL: {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + WS_PATH, "", ""))


def http_auth_headers(http: httpx.AsyncClient) -> Callable[[], Awaitable[dict[str, str]]]:
    """The credentials `http` would send now, got by running its `auth` flow (which refreshes a token when due)."""

    async def headers() -> dict[str, str]:
        if http.auth is None:
            return {}
        request = http.build_request("GET", WS_PATH)
        flow = http.auth.async_auth_flow(request)
        try:
            sent = await flow.__anext__()
            while sent is not request:  # e.g. a refresh-token grant first
                sent = await flow.asend(await http.send(sent, auth=None))
        finally:
            await flow.aclose()
        return {name: value for name, value in request.headers.items() if name.lower() in _CREDENTIAL_HEADERS}

    return headers


@dataclass(frozen=True, slots=True)
class _Drop:
    why: str
    floor: float = 0.0  # the least delay before the next attempt
    served: bool = False  # the connection was up (subscribed again), so earlier failures no longer count


class Realtime:
    """A WebSocket client: `async with` it, `async for` its events; `subscribe`/`unsubscribe` while it runs.

    Credentials: `api_key`, `access_token`, or `auth_headers` (called at every connect; sync or async).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        auth_headers: AuthHeaders | None = None,
        topics: Iterable[str] = (),
        reconnect: ReconnectPolicy | None = None,
        open_timeout: float = 10.0,
        reply_timeout: float = 10.0,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        if sum(value is not None for value in (api_key, access_token, auth_headers)) != 1:
            raise ValueError("pass exactly one of api_key, access_token and auth_headers")
        if auth_headers is None:
            fixed = {"X-API-Key": api_key} if api_key is not None else {"Authorization": f"Bearer {access_token}"}
            auth_headers = fixed.copy
        self._auth_headers = auth_headers
        self.url = ws_url(base_url)
        self._initial = [Topic(topic).root for topic in topics]
        self._policy = reconnect or ReconnectPolicy()
        self._open_timeout, self._reply_timeout = open_timeout, reply_timeout
        self.topics: set[str] = set()  # those subscribed (acknowledged), subscribed again on reconnecting
        self._seen: dict[str, set[str]] = {}  # event ids yielded per job topic: a job topic replays its history
        self._pending: dict[str, asyncio.Future[_Reply]] = {}
        self._queue: asyncio.Queue[Event | RealtimeError | None] = asyncio.Queue()
        # At most `max_buffered` messages wait for the consumer: beyond that the socket is not read, so a consumer
        # that falls behind is seen by the server (which closes a slow reader with 4408), not by our memory.
        self._max_buffered = max(max_buffered, 1)
        self._drained = asyncio.Event()
        self._drained.set()
        self._conn: ClientConnection | None = None
        self._ready = asyncio.Event()  # set while connected and subscribed again, or once it has failed
        self._failure: RealtimeError | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="lexica-realtime")
        try:
            if self._initial:
                await self.subscribe(*self._initial)
            else:
                await self._connection()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    @property
    def buffered(self) -> int:
        """Messages received and not yet consumed."""
        return self._queue.qsize()

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if self._queue.qsize() <= self._max_buffered // 2:
            self._drained.set()
        if item is None or isinstance(item, RealtimeError):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item is None:
                raise StopAsyncIteration
            raise item
        return item

    async def subscribe(self, *topics: str) -> None:
        """Subscribes to the topics, all or none: a refusal raises `SubscriptionError` and subscribes none."""
        wanted = [Topic(topic) for topic in topics]
        reply = await self._request(lambda id: Subscribe(type="subscribe", id=id, topics=wanted))
        if isinstance(reply, ErrorMessage):
            raise SubscriptionError(topics, reply.code, reply.detail)

    async def unsubscribe(self, *topics: str) -> None:
        wanted = [Topic(topic) for topic in topics]
        self.topics.difference_update(topics)
        await self._request(lambda id: Unsubscribe(type="unsubscribe", id=id, topics=wanted))

    async def ping(self) -> float:
        """Seconds until the server's `pong`."""
        started = time.monotonic()
        await self._request(lambda id: Ping(type="ping", id=id))
        return time.monotonic() - started

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._fail(RealtimeClosedError("the client was closed"), end_of_stream=True)

    # requests and replies
    async def _connection(self) -> ClientConnection:
        while True:
            await self._ready.wait()
            if self._failure is not None:
                raise self._failure
            if self._conn is not None:
                return self._conn

    async def _request(self, build: Callable[[str], Subscribe | Unsubscribe | Ping]) -> _Reply:
        """Sends the message and waits for its reply, sending it again on the next connection if this one drops."""
        while True:
            conn = await self._connection()
            message = build(uuid.uuid4().hex)
            try:
                return await self._exchange(conn, message, read=False)
            except _Lost:
                continue

    async def _exchange(self, conn: ClientConnection, message: Subscribe | Unsubscribe | Ping, *, read: bool) -> _Reply:
        """`message`'s reply; `read`: this task reads the frames itself (before the connection is handed out)."""
        assert message.id is not None
        waiter: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
        self._pending[message.id] = waiter
        try:
            try:
                await conn.send(message.model_dump_json())
            except ConnectionClosed:
                if read:
                    raise
                # The reader sees the close too and fails the waiter with `_Lost`.
            async with asyncio.timeout(self._reply_timeout):
                while read and not waiter.done():
                    self._handle(await conn.recv())
                return await waiter
        except TimeoutError:
            raise RealtimeError(f"no reply to {message.type} within {self._reply_timeout:g} s") from None
        finally:
            self._pending.pop(message.id, None)

    def _handle(self, frame: str | bytes) -> None:
        try:
            message = _SERVER_MESSAGE.validate_json(frame)
        except ValidationError as exc:
            unknown = any(error["type"] == "union_tag_invalid" for error in exc.errors())
            logger.log(logging.DEBUG if unknown else logging.WARNING, "skipped a WebSocket message: %s", exc)
            return
        if isinstance(message, Subscribed | Unsubscribed | Pong | ErrorMessage):
            if isinstance(message, Subscribed):
                self.topics.update(topic.root for topic in message.topics)
            waiter = self._pending.get(message.id or "")
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
                return
            if not isinstance(message, ErrorMessage):
                return
            if message.topic is not None:
                self._forget(message.topic.root)
        elif isinstance(message, JobProgress | JobFinished):
            seen = self._seen.setdefault(message.topic, set())
            if message.event_id in seen:
                return
            seen.add(message.event_id)
            if isinstance(message, JobFinished):  # its last event
                self._forget(message.topic)
        elif isinstance(message, ListChanged) and message.change is ListChange.DELETED:
            self._forget(message.topic)  # the server ended the subscription
        self._queue.put_nowait(message)

    def _forget(self, topic: str) -> None:
        self.topics.discard(topic)
        self._seen.pop(topic, None)

    # the connection
    async def _run(self) -> None:
        failures = 0
        try:
            while True:
                drop = await self._session()
                failures = 1 if drop.served else failures + 1
                if failures > self._policy.attempts:
                    raise RealtimeClosedError(f"gave up after {self._policy.attempts} reconnect attempts: {drop.why}")
                delay = self._policy.delay(failures, drop.floor)
                logger.info("WebSocket %s: %s; reconnecting in %.1f s (%d)", self.url, drop.why, delay, failures)
                await asyncio.sleep(delay)
        except Exception as exc:
            error: RealtimeError = exc if isinstance(exc, RealtimeError) else RealtimeError(f"unexpected: {exc!r}")
            if isinstance(exc, LexicaError) and error is not exc:  # from `auth_headers`, e.g. a refused refresh
                error = RealtimeAuthError(f"cannot get credentials: {exc}")
            error.__cause__ = None if error is exc else exc
            logger.warning("WebSocket %s: %s", self.url, error)
            self._fail(error)

    async def _session(self) -> _Drop:
        """One connection, from the handshake until it ends; raises when it must not be retried."""
        try:
            headers = await self._headers()
        except APIConnectionError as exc:
            return _Drop(f"cannot get credentials ({exc})")
        try:
            conn = await connect(
                self.url, additional_headers=headers, user_agent_header=USER_AGENT, open_timeout=self._open_timeout
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                await self._refused(headers, f"handshake refused with HTTP {status}", status)
            busy = retry_after_seconds(exc.response.headers.get("Retry-After")) or self._policy.busy_delay
            return _Drop(f"handshake answered with HTTP {status}", busy if status == 429 else 0.0)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return _Drop(f"cannot connect ({exc!r})")
        served = False
        async with conn:
            try:
                await self._resubscribe(conn)
                served = True
                self._conn = conn
                self._ready.set()
                async for frame in conn:
                    self._handle(frame)
                    if self._queue.qsize() >= self._max_buffered:
                        self._drained.clear()
                        await self._drained.wait()  # the consumer catches up; meanwhile the socket is not read
            except ConnectionClosed:
                pass
            except RealtimeError as exc:  # no reply in time: the connection is presumed dead
                return _Drop(str(exc), served=served)
            finally:
                self._conn = None
                if self._failure is None:
                    self._ready.clear()
                self._lose_pending(_Lost())
        why = f"closed with {conn.close_code} {conn.close_reason or ''}".rstrip()
        if conn.close_code in AUTH_CLOSE_CODES:
            await self._refused(headers, why, conn.close_code)
        return _Drop(why, self._policy.busy_delay if conn.close_code == BUSY_CLOSE_CODE else 0.0, served)

    async def _resubscribe(self, conn: ClientConnection) -> None:
        """Subscribes again to every topic held (a topic now refused is dropped and reported in the stream); with
        none, a ping: a socket over the per-user cap, or on a server shutting down, is accepted and then closed."""
        held = sorted(self.topics)
        if not held:
            await self._exchange(conn, Ping(type="ping", id=uuid.uuid4().hex), read=True)
            return
        reply = await self._exchange(conn, Subscribe(type="subscribe", id=uuid.uuid4().hex, topics=held), read=True)
        if isinstance(reply, ErrorMessage):  # all or nothing: find the topics refused
            for topic in held:
                await asyncio.sleep(_RESUBSCRIBE_PACE_SECONDS)
                alone = Subscribe(type="subscribe", id=uuid.uuid4().hex, topics=[Topic(topic)])
                reply = await self._exchange(conn, alone, read=True)
                if isinstance(reply, ErrorMessage):
                    logger.warning("WebSocket %s: %s is refused now: %s", self.url, topic, reply.detail)
                    self._forget(topic)
                    self._queue.put_nowait(reply.model_copy(update={"topic": Topic(topic)}))
        logger.info("WebSocket %s: connected again, subscribed to %s", self.url, ", ".join(sorted(self.topics)))

    async def _headers(self) -> dict[str, str]:
        headers = self._auth_headers()
        return dict(await headers if inspect.isawaitable(headers) else headers)

    async def _refused(self, used: Mapping[str, str], why: str, code: int) -> None:
        """Raises `RealtimeAuthError`, unless the credentials changed since they were sent (then: retry)."""
        if await self._headers() == used:
            raise RealtimeAuthError(f"credentials refused: {why}", code=code)

    def _fail(self, error: RealtimeError, *, end_of_stream: bool = False) -> None:
        """Ends the client: waiting calls raise `error`; the iterator raises it too, or stops (`end_of_stream`)."""
        if self._failure is not None:
            return
        self._failure = error
        self._ready.set()
        self._lose_pending(error)
        self._queue.put_nowait(None if end_of_stream else error)

    def _lose_pending(self, error: Exception) -> None:
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._pending.clear()
