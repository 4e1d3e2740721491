"""What every socket of an instance shares: its limits (from settings), the per-user socket count and topic access."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from lexica.jobs.service import JobService
from lexica.lists.service import ListService
from lexica.realtime.access import TopicAccess
from lexica.realtime.limits import SocketSlots
from lexica.realtime.protocol import FrameLimits
from lexica.settings import Settings


@dataclass(frozen=True, slots=True)
class SocketLimits:
    frame: FrameLimits
    max_topics: int
    messages_per_second: float
    message_burst: int
    reauth_seconds: float
    send_timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SocketLimits:
        return cls(
            frame=FrameLimits(settings.websocket_max_message_bytes, settings.websocket_max_message_depth),
            max_topics=settings.websocket_max_topics,
            messages_per_second=settings.websocket_messages_per_second,
            message_burst=settings.websocket_message_burst,
            reauth_seconds=settings.websocket_reauth_seconds,
            send_timeout_seconds=settings.websocket_send_timeout_seconds,
        )


class WebSocketHub:
    def __init__(self, settings: Settings, redis: Redis | None, jobs: JobService, lists: ListService) -> None:
        self.limits = SocketLimits.from_settings(settings)
        self.slots = SocketSlots(settings.websocket_max_connections_per_user, redis)
        self.access = TopicAccess(jobs, lists)
        self.open_sockets = 0  # accepted and not yet closed, on this instance
