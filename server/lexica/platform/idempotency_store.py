"""Where Idempotency-Keys are claimed and their (sealed) responses kept: in process, or in Redis for every instance.

A key is first *claimed* with a short lease that the running request renews, so that a key held by a process
that died is free again within one lease, not after the full retention; the completed record replaces the claim
and is kept for the full TTL. Values are opaque bytes (see `idempotency_seal`): the store never sees a response
in clear. Every conditional step (renew, complete, release) acts only while the caller still holds its claim.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from cachetools import TLRUCache
from redis.asyncio import Redis

_CLAIM = b"c:"
_DONE = b"r:"


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request holds the key and runs; `token` proves it to the store."""

    token: bytes


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request with the key is still running."""


@dataclass(frozen=True, slots=True)
class Done:
    """The key's request finished; `sealed` is its record."""

    sealed: bytes


Claim = Claimed | InFlight | Done


def _decode(value: bytes) -> InFlight | Done:
    return InFlight() if value.startswith(_CLAIM) else Done(value[len(_DONE) :])


class IdempotencyStore(Protocol):
    async def claim(self, key: str) -> Claim: ...

    async def renew(self, key: str, claim: Claimed) -> bool: ...

    async def complete(self, key: str, claim: Claimed, sealed: bytes) -> bool: ...

    async def release(self, key: str, claim: Claimed) -> None: ...


class MemoryIdempotencyStore:
    """For a single process (the embedded default)."""

    def __init__(self, *, ttl_seconds: float, lease_seconds: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._entries: TLRUCache[str, tuple[float, bytes]] = TLRUCache(
            max_entries, ttu=lambda _key, value, _now: value[0], timer=time.monotonic
        )

    def _holds(self, key: str, claim: Claimed) -> bool:
        found = self._entries.get(key)
        return found is not None and found[1] == _CLAIM + claim.token

    async def claim(self, key: str) -> Claim:
        found = self._entries.get(key)
        if found is not None:
            return _decode(found[1])
        token = secrets.token_bytes(16)
        self._entries[key] = (time.monotonic() + self._lease, _CLAIM + token)
        return Claimed(token)

    async def renew(self, key: str, claim: Claimed) -> bool:
        if not self._holds(key, claim):
            return False
        self._entries[key] = (time.monotonic() + self._lease, _CLAIM + claim.token)
        return True

    async def complete(self, key: str, claim: Claimed, sealed: bytes) -> bool:
        if key in self._entries and not self._holds(key, claim):
            return False
        self._entries[key] = (time.monotonic() + self._ttl, _DONE + sealed)
        return True

    async def release(self, key: str, claim: Claimed) -> None:
        if self._holds(key, claim):
            del self._entries[key]


# KEYS[1] = the key; ARGV[1] = the claim value; then what to do while the claim is still held.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_COMPLETE = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisIdempotencyStore:
    """Shared by every instance; `SET NX` makes exactly one of concurrent first requests the one that runs."""

    def __init__(
        self, redis: Redis, *, ttl_seconds: float, lease_seconds: float, prefix: str = "lexica:idempotency:"
    ) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl_seconds * 1000)
        self._lease_ms = int(lease_seconds * 1000)
        self._prefix = prefix

    async def claim(self, key: str) -> Claim:
        name = self._prefix + key
        for _ in range(3):  # the record may expire between SET NX and GET: then claim again
            token = secrets.token_bytes(16)
            if await self._redis.set(name, _CLAIM + token, nx=True, px=self._lease_ms):
                return Claimed(token)
            value = await self._redis.get(name)
            if value is not None:  # bytes: the client does not decode responses
                return _decode(value.encode() if isinstance(value, str) else value)
        return InFlight()

    async def renew(self, key: str, claim: Claimed) -> bool:
        renewed = await self._redis.eval(_RENEW, 1, self._prefix + key, _CLAIM + claim.token, self._lease_ms)
        return bool(renewed)

    async def complete(self, key: str, claim: Claimed, sealed: bytes) -> bool:
        name = self._prefix + key
        done = await self._redis.eval(_COMPLETE, 1, name, _CLAIM + claim.token, _DONE + sealed, self._ttl_ms)
        return bool(done)

    async def release(self, key: str, claim: Claimed) -> None:
        await self._redis.eval(_RELEASE, 1, self._prefix + key, _CLAIM + claim.token)


def build_store(redis: Redis | None, *, ttl_seconds: float, lease_seconds: float) -> IdempotencyStore:
    if redis is not None:
        return RedisIdempotencyStore(redis, ttl_seconds=ttl_seconds, lease_seconds=lease_seconds)
    return MemoryIdempotencyStore(ttl_seconds=ttl_seconds, lease_seconds=lease_seconds)
