"""WebSocket limits: messages per socket (a token bucket) and sockets per user (in process, and in Redis).

Sockets per user are counted on each instance in memory, always, and across instances in Redis when it is configured:
one sorted set per user, a member per socket whose score is when it lapses. Live sockets push their lapse time forward
every `SLOT_REFRESH_SECONDS`, so the sockets of an instance that died stop counting after `SLOT_TTL_SECONDS`; a Redis
that lost its data is refilled by the same refreshes. Each check-and-add is one Lua script (atomic, Redis's clock).
While Redis cannot be reached, the in-process count alone applies (fail open to the per-instance cap, not to none).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from lexica.platform.sparse_warnings import SparseWarning

logger = logging.getLogger("lexica.ws")

SLOT_TTL_SECONDS = 60
SLOT_REFRESH_SECONDS = 20.0
KEY_PREFIX = "lexica:ws:sockets:"

_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
_REFRESH = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class MessageRate:
    """A token bucket per socket: `per_second` messages on average, `burst` at once.

    `flooding` turns true when the client has sent another `burst` messages while over the rate; it is then closed.
    """

    def __init__(self, per_second: float, burst: int) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._refused = 0
        self._at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._refused = 0
            return True
        self._refused += 1
        return False

    @property
    def flooding(self) -> bool:
        return self._refused > self._burst


@dataclass(frozen=True, slots=True)
class Slot:
    user_id: str
    id: str


class SocketSlots:
    """At most `limit` open sockets per user."""

    def __init__(self, limit: int, redis: Redis | None, *, key_prefix: str = KEY_PREFIX) -> None:
        self.limit = limit
        self._redis = redis
        self._prefix = key_prefix
        self._local: dict[str, int] = {}
        self._warning = SparseWarning(logger)

    async def acquire(self, user_id: str) -> Slot | None:
        """A slot for one more socket of the user; None when the user holds `limit` already."""
        if self._local.get(user_id, 0) >= self.limit:
            return None
        slot = Slot(user_id, uuid.uuid4().hex)
        self._local[user_id] = self._local.get(user_id, 0) + 1  # before awaiting: concurrent handshakes count
        if self._redis is not None:
            try:
                granted = await self._redis.eval(_ACQUIRE, 1, self._key(user_id), self.limit, slot.id, SLOT_TTL_SECONDS)
            except RedisError as exc:
                self._unavailable(exc)
            else:
                if not granted:
                    self._forget(user_id)
                    return None
        return slot

    async def refresh(self, slot: Slot) -> None:
        """Keeps a live socket counted in Redis (and counts it again after Redis lost its data)."""
        if self._redis is None:
            return
        try:
            await self._redis.eval(_REFRESH, 1, self._key(slot.user_id), slot.id, SLOT_TTL_SECONDS)
        except RedisError as exc:
            self._unavailable(exc)

    async def release(self, slot: Slot) -> None:
        self._forget(slot.user_id)
        if self._redis is None:
            return
        try:
            await self._redis.zrem(self._key(slot.user_id), slot.id)
        except RedisError as exc:
            self._unavailable(exc)  # the member lapses by itself after SLOT_TTL_SECONDS

    def open_sockets(self, user_id: str) -> int:
        """This instance's open sockets of the user."""
        return self._local.get(user_id, 0)

    def _forget(self, user_id: str) -> None:
        left = self._local.get(user_id, 0) - 1
        if left > 0:
            self._local[user_id] = left
        else:
            self._local.pop(user_id, None)

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}{user_id}"

    def _unavailable(self, exc: Exception) -> None:
        self._warning.warn("Redis unavailable for WebSocket counts; counting on this instance only: %r", exc)
