"""Sliding-window counters in Redis, shared by every instance: one round trip per request.

The arithmetic and the key life cycle are those of `limits`' Redis storage (its `acquire_sliding_window.lua` and
`sliding_window.lua`): the current window's counter lives twice the window; once less than one window of its life
is left, it becomes the previous window's. `limits` asks Redis twice per request — one script to count the hit, one
to read the window for the `RateLimit` header — and with two workers behind one Redis those two round trips held
the whole box to a quarter of its throughput without rate limits (`make bench`, whole box: 4.0k against 17.2k
req/s). The script here does both in one call, atomically, so the window read is the one the decision was made on.

Requests that arrive together also travel together: the hits made while the event loop runs one round of callbacks
go to Redis as one pipeline (each still its own atomic script run), so a busy worker pays one round trip for many
requests rather than one each.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import NoScriptError

from lexica.platform.local_windows import Window

_HIT = """
-- KEYS[1]: the previous window's counter, KEYS[2]: the current one's. ARGV: limit, window (s), amount.
-- Returns {allowed (0/1), previous count, previous TTL (ms), current count, current TTL (ms)}.
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    -- the current window ended: it becomes the previous one
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = tonumber(redis.call('pttl', KEYS[2])) or 0
if previous_ttl < 0 then previous_ttl = 0 end
if current_ttl < 0 then current_ttl = 0 end
local allowed = 0
if math.floor(previous_count * previous_ttl / expiry) + current_count + amount <= limit then
    allowed = 1
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], amount)
    else
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        current_count = amount
        current_ttl = expiry * 2
    end
end
return {allowed, previous_count, previous_ttl, current_count, current_ttl}
"""


_SHA = hashlib.sha1(_HIT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1
_Pending = tuple[list[str], list[int], "asyncio.Future[list[Any]]"]


class RedisSlidingWindows:
    """`hit` counts a request of a key against its limit in Redis and returns the window after it."""

    def __init__(self, pool: ConnectionPool, *, key_prefix: str) -> None:
        self._redis = Redis(connection_pool=pool)
        self._prefix = key_prefix
        self._pending: list[_Pending] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def hit(self, key: str, limit: int, expiry: int) -> tuple[bool, Window]:
        """Raises `RedisError` when Redis cannot answer (the caller counts in process instead)."""
        base = f"{{{self._prefix}:{key}:{expiry}}}"  # braces: both keys on one node of a Redis Cluster
        reply: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(([f"{base}/previous", f"{base}/current"], [limit, expiry, 1], reply))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._send_pending)
        allowed, previous, previous_ttl, current, current_ttl = (int(value) for value in await reply)
        return bool(allowed), (previous, previous_ttl / 1000, current, current_ttl / 1000)

    def _send_pending(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)  # held until done: a task only the loop references may be collected
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Pending]) -> None:
        try:
            replies = await self._run(batch)
            unloaded = [at for at, result in enumerate(replies) if isinstance(result, NoScriptError)]
            if unloaded:  # a new or flushed Redis: load the script, then run the hits it refused (only those)
                await self._redis.script_load(_HIT)
                for at, result in zip(unloaded, await self._run([batch[at] for at in unloaded]), strict=True):
                    replies[at] = result
        except Exception as exc:  # every waiter gets the failure (a RedisError: they count locally)
            for _, _, reply in batch:
                if not reply.done():
                    reply.set_exception(exc)
            return
        for (_, _, reply), result in zip(batch, replies, strict=True):
            if reply.done():  # its request was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                reply.set_exception(result)
            else:
                reply.set_result(result)

    async def _run(self, batch: list[_Pending]) -> list[Any]:
        """One pipeline of script runs (not a transaction: each run is atomic on its own); errors as results."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(_SHA, len(keys), *keys, *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
