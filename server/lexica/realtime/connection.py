"""One client's socket: its reader, its subscriptions (a follower task per topic), its watchers, and how it ends.

Whatever ends the socket (the client leaving, the instance draining, credentials that no longer hold, a client that
floods or does not read, an unexpected error) calls `end` once with the close code to send; `serve` then stops every
task of the socket and closes it. Sends are serialised and bounded in time: a follower holds at most the one event
it is delivering, so a client that never reads makes the server hold at most one message per topic, and is closed
after the send timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from lexica.platform.cancellation import cancel_until_done
from lexica.platform.event_messages import delivered
from lexica.platform.events import Event
from lexica.realtime.access import Credentials
from lexica.realtime.hub import WebSocketHub
from lexica.realtime.limits import SLOT_REFRESH_SECONDS, MessageRate, Slot
from lexica.realtime.protocol import (
    CREDENTIALS_ENDED,
    GOING_AWAY,
    INTERNAL_ERROR,
    TOO_MANY,
    TOO_SLOW,
    Close,
    FrameError,
    Message,
    clip,
    read_frame,
)
from lexica.state import AppState

logger = logging.getLogger("lexica.ws")

WS_SERVER_EVENTS = frozenset({"job.progress", "job.finished", "list.changed", "entry.changed"})
DELIVERY_RECHECK_SECONDS = 5.0  # credentials are checked again before a delivery when the last check is older
CLOSE_TIMEOUT_SECONDS = 5.0


class SocketGone(Exception):
    """The socket is ending; whoever was sending stops."""


class Connection:
    def __init__(
        self, websocket: WebSocket, state: AppState, hub: WebSocketHub, credentials: Credentials, slot: Slot
    ) -> None:
        self._websocket = websocket
        self._state = state
        self._hub = hub
        self._limits = hub.limits
        self._credentials = credentials
        self._slot = slot
        self._rate = MessageRate(hub.limits.messages_per_second, hub.limits.message_burst)
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()
        self._ended: asyncio.Future[Close | None] = asyncio.get_running_loop().create_future()

    def end(self, close: Close | None) -> None:
        """Ends the socket, closing it with `close` (None: the client has gone). The first call wins."""
        if not self._ended.done():
            self._ended.set_result(close)

    async def serve(self) -> None:
        tasks = [
            asyncio.create_task(self._read(), name="ws-read"),
            asyncio.create_task(self._watch_drain(), name="ws-drain"),
            asyncio.create_task(self._watch_credentials(), name="ws-credentials"),
        ]
        for task in tasks:
            task.add_done_callback(self._task_done)
        try:
            close = await self._ended
        finally:
            await cancel_until_done(*tasks, *self._followers.values())
            self._followers.clear()
        if close is not None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
                await asyncio.wait_for(self._websocket.close(close.code, close.reason), CLOSE_TIMEOUT_SECONDS)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, SocketGone):
            logger.error("WebSocket task %s failed", task.get_name(), exc_info=error)
            self.end(Close(INTERNAL_ERROR, "internal error"))
        self.end(None)

    # sending
    async def send(self, message: Mapping[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"), default=str)
        async with self._send_lock:
            if self._ended.done():
                raise SocketGone
            try:
                await asyncio.wait_for(self._websocket.send_text(text), self._limits.send_timeout_seconds)
            except TimeoutError:
                self.end(Close(TOO_SLOW, "messages were not read in time"))
                raise SocketGone from None
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.end(None)
                raise SocketGone from None

    async def error(self, code: str, detail: str, correlation: str | None = None, topic: str | None = None) -> None:
        message: dict[str, Any] = {"type": "error", "id": correlation, "code": code, "detail": clip(detail)}
        if topic is not None:
            message["topic"] = topic
        await self.send(message)

    # reading
    async def _read(self) -> None:
        while True:
            frame = await self._websocket.receive()
            if frame["type"] == "websocket.disconnect":
                self.end(None)
                return
            if not self._rate.allow():
                if self._rate.flooding:
                    self.end(Close(TOO_MANY, "too many messages"))
                    return
                limits = self._limits
                await self.error(
                    "rate_limited",
                    f"More than {limits.messages_per_second:g} messages per second (bursts of "
                    f"{limits.message_burst}); this one was not processed.",
                )
                continue
            message = read_frame(frame, self._limits.frame)
            if isinstance(message, FrameError):
                await self.error(message.code, message.detail, message.correlation)
            else:
                await self.handle(message)

    async def handle(self, message: Message) -> None:
        if message.type == "ping":
            await self.send({"type": "pong", "id": message.id})
        elif message.type == "subscribe":
            await self.subscribe([topic.root for topic in message.topics], message.id)
        else:
            await self.unsubscribe([topic.root for topic in message.topics], message.id)

    # subscriptions
    async def _allowed(self, topic: str) -> str | None:
        """None when the caller may follow the topic, else the error code."""
        allowed = await self._hub.access.may_follow(topic, self._credentials.principal)
        return None if allowed else "unknown_topic"

    async def subscribe(self, topics: list[str], correlation: str | None) -> None:
        new = [topic for topic in dict.fromkeys(topics) if topic not in self._followers]
        if len(self._followers) + len(new) > self._limits.max_topics:
            limit = self._limits.max_topics
            await self.error("too_many_subscriptions", f"At most {limit} topics per connection.", correlation)
            return
        for topic in new:
            if (code := await self._allowed(topic)) is not None:
                await self.error(code, f"No topic {topic!r} that you may follow; nothing was subscribed.", correlation)
                return
        # Where each follower starts is fixed before the acknowledgement: an event published once the client has
        # it is delivered, however late the follower's first read (a job topic replays its whole history).
        starts = {
            topic: None if topic.startswith("job:") else await self._state.events.position(topic) for topic in new
        }
        await self.send({"type": "subscribed", "id": correlation, "topics": topics})
        for topic in new:
            follower = self._follow(topic, starts[topic])
            self._followers[topic] = asyncio.create_task(follower, name=f"ws-follow-{topic}")

    async def unsubscribe(self, topics: list[str], correlation: str | None) -> None:
        for topic in topics:
            task = self._followers.pop(topic, None)
            if task is not None:
                await cancel_until_done(task)
        await self.send({"type": "unsubscribed", "id": correlation, "topics": topics})

    async def _follow(self, topic: str, after: str | None) -> None:
        try:
            async for event in self._state.events.follow(topic, after=after):
                if event.name in WS_SERVER_EVENTS and not await self._deliver(topic, event):
                    return
        except asyncio.CancelledError:
            raise
        except SocketGone:  # `end` has been called; `serve` closes the socket
            return
        except Exception:  # an unreachable bus: this subscription ends, the socket stays
            logger.info("stopped following %s", topic, exc_info=True)

    async def _deliver(self, topic: str, event: Event) -> bool:
        """Sends the event if the caller may still receive it; False when the subscription has ended."""
        if not await self._credentials.valid(min(DELIVERY_RECHECK_SECONDS, self._limits.reauth_seconds)):
            self.end(Close(CREDENTIALS_ENDED, _credentials_reason(self._credentials)))
            raise SocketGone
        if not await self._hub.access.may_receive(event, self._credentials.principal):
            self._followers.pop(topic, None)
            detail = f"You may no longer follow {topic}; its subscription has ended."
            await self.error("access_ended", detail, topic=topic)
            return False
        await self.send(delivered(event))
        if topic.startswith("list:") and event.payload.get("change") == "deleted":
            self._followers.pop(topic, None)  # nothing more will happen to a deleted list
            return False
        return True

    # watchers
    async def _watch_drain(self) -> None:
        await self._state.lifecycle.wait_draining()
        self.end(Close(GOING_AWAY, "server shutting down"))

    async def _watch_credentials(self) -> None:
        """Checks the credentials every `reauth_seconds`, closes at the token's expiry, keeps the socket counted."""
        credentials, reauth = self._credentials, self._limits.reauth_seconds
        refreshed = time.monotonic()
        while True:
            now = time.monotonic()
            await asyncio.sleep(
                max(
                    0.0,
                    min(
                        reauth - (now - credentials.checked_at),
                        SLOT_REFRESH_SECONDS - (now - refreshed),
                        credentials.seconds_to_expiry(),
                    ),
                )
            )
            if time.monotonic() - credentials.checked_at >= reauth or credentials.expired():
                if not await credentials.valid(0.0):
                    self.end(Close(CREDENTIALS_ENDED, _credentials_reason(credentials)))
                    return
                if time.monotonic() - credentials.checked_at >= reauth:  # the check could not be made; retry soon
                    await asyncio.sleep(min(5.0, reauth))
            if time.monotonic() - refreshed >= SLOT_REFRESH_SECONDS:
                await self._hub.slots.refresh(self._slot)
                refreshed = time.monotonic()


def _credentials_reason(credentials: Credentials) -> str:
    return "access token expired" if credentials.expired() else "credentials revoked"
