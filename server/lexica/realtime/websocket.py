"""`/api/v1/ws`: the AsyncAPI `ws` channel. Clients subscribe to topics and receive their events as JSON messages.

Credentials as for HTTP (`Authorization: Bearer`, `X-API-Key`), or `?access_token=` for browsers, which cannot set
headers on a WebSocket. A bad message is answered with an `error` message and the socket stays open. A job topic
replays the job's kept history first (a late subscriber misses nothing); list and entry topics deliver what happens
from the subscription on. Access is checked when subscribing: job topics are the owner's, list topics whoever may
read the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect

from lexica._generated.events import ClientMessage
from lexica.platform.events import LATEST, Event
from lexica.platform.problems import ProblemError
from lexica.platform.security import Authenticator, Principal
from lexica.state import AppState

logger = logging.getLogger("lexica.ws")

WS_SERVER_EVENTS = frozenset({"job.progress", "job.finished", "list.changed", "entry.changed"})
POLICY_VIOLATION = 1008


def _with_query_token(websocket: WebSocket) -> Request:
    """A request view of the handshake, with `?access_token=` moved into an Authorization header."""
    scope = {**websocket.scope, "type": "http", "method": "GET"}  # the authenticator reads a request's headers
    token = websocket.query_params.get("access_token")
    if token and not websocket.headers.get("authorization"):
        scope["headers"] = [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]
    return Request(scope)


async def _principal(websocket: WebSocket) -> Principal | None:
    authenticator: Authenticator = websocket.scope["state"]["authenticator"]
    try:
        return await authenticator.authenticate(_with_query_token(websocket))
    except ProblemError:
        return None


class Connection:
    """One client's socket: its subscriptions (a follower task per topic) and serialised sends."""

    def __init__(self, websocket: WebSocket, state: AppState, principal: Principal) -> None:
        self._websocket = websocket
        self._state = state
        self._principal = principal
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, message: Mapping[str, Any]) -> None:
        async with self._send_lock:
            await self._websocket.send_text(json.dumps(message, separators=(",", ":"), default=str))

    async def error(self, code: str, detail: str, correlation: str | None = None) -> None:
        await self.send({"type": "error", "id": correlation, "code": code, "detail": detail})

    async def serve(self) -> None:
        try:
            while True:
                await self.handle(await self._websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        for task in self._followers.values():
            task.cancel()
        await asyncio.gather(*self._followers.values(), return_exceptions=True)
        self._followers.clear()

    async def handle(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except ValueError:
            await self.error("invalid_json", "The message is not JSON.")
            return
        correlation = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        try:
            message = ClientMessage.model_validate(raw).root
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors()[:5]
            )
            await self.error(
                "invalid_message", f"Not a subscribe, unsubscribe or ping message ({problems}).", correlation
            )
            return
        if message.type == "ping":
            await self.send({"type": "pong", "id": message.id})
        elif message.type == "subscribe":
            await self.subscribe([topic.root for topic in message.topics], message.id)
        else:
            await self.unsubscribe([topic.root for topic in message.topics], message.id)

    async def _allowed(self, topic: str) -> str | None:
        """None when the caller may follow the topic, else the error code."""
        kind, _, ident = topic.partition(":")
        if kind == "job":
            job = await self._state.jobs.job_record(ident)
            if job is None or job.owner_id != self._principal.user_id:
                return "unknown_topic"
        elif kind == "list":
            try:
                await self._state.lists.readable(ident, self._principal)
            except ProblemError:
                return "unknown_topic"
        return None

    async def subscribe(self, topics: list[str], correlation: str | None) -> None:
        new = [topic for topic in dict.fromkeys(topics) if topic not in self._followers]
        if len(self._followers) + len(new) > self._state.settings.websocket_max_topics:
            limit = self._state.settings.websocket_max_topics
            await self.error("too_many_subscriptions", f"At most {limit} topics per connection.", correlation)
            return
        for topic in new:
            if (code := await self._allowed(topic)) is not None:
                await self.error(code, f"No topic {topic!r} that you may follow; nothing was subscribed.", correlation)
                return
        await self.send({"type": "subscribed", "id": correlation, "topics": topics})
        for topic in new:
            after = None if topic.startswith("job:") else LATEST
            self._followers[topic] = asyncio.create_task(self._follow(topic, after), name=f"ws-follow-{topic}")

    async def unsubscribe(self, topics: list[str], correlation: str | None) -> None:
        for topic in topics:
            task = self._followers.pop(topic, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.send({"type": "unsubscribed", "id": correlation, "topics": topics})

    async def _follow(self, topic: str, after: str | None) -> None:
        try:
            async for event in self._state.events.follow(topic, after=after):
                if event.name in WS_SERVER_EVENTS:
                    await self.send(_message(event))
        except asyncio.CancelledError:
            raise
        except Exception:  # a closed socket or an unreachable bus: this subscription ends, the socket's loop decides
            logger.info("stopped following %s", topic, exc_info=True)


def _message(event: Event) -> dict[str, Any]:
    return {**event.payload, "event_id": event.id}


async def websocket_endpoint(websocket: WebSocket) -> None:
    principal = await _principal(websocket)
    if principal is None:
        # Refuse the handshake; the close code tells browsers why (they cannot see an HTTP status here).
        await websocket.close(code=POLICY_VIOLATION, reason="credentials required")
        return
    await websocket.accept()
    state: AppState = websocket.scope["state"]["lexica"]
    await Connection(websocket, state, principal).serve()
