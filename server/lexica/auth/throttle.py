"""Login throttling: growing, capped delays after failures, per account, per address and per both.

An attacker could otherwise lock a victim out by failing on purpose. Two things prevent that: every delay is
capped (15 minutes), and the per-account delay does not apply from addresses where the account signed in
successfully in the last 30 days, so the owner's usual devices keep working during an attack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis

MAX_DELAY_SECONDS = 15 * 60
FAILURE_MEMORY_SECONDS = 60 * 60
TRUSTED_SECONDS = 30 * 24 * 60 * 60


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    free_failures: int  # failures allowed before delays start


def counters(email: str, ip: str | None) -> list[Counter]:
    ip = ip or "unknown"
    return [Counter(f"acct-ip:{email}|{ip}", 5), Counter(f"acct:{email}", 10), Counter(f"ip:{ip}", 50)]


def delay_after(failures: int, free: int) -> int:
    if failures <= free:
        return 0
    return int(min(2 ** (failures - free - 1), MAX_DELAY_SECONDS))


class LoginThrottle(Protocol):
    async def wait_seconds(self, email: str, ip: str | None) -> int:
        """Seconds before this account may be tried from this address (0: now)."""
        ...

    async def failed(self, email: str, ip: str | None) -> None: ...

    async def succeeded(self, email: str, ip: str | None) -> None: ...


def _applicable(email: str, ip: str | None, trusted: bool) -> list[Counter]:
    return [c for c in counters(email, ip) if not (trusted and c.key.startswith("acct:"))]


class MemoryLoginThrottle:
    """For a single process (the embedded default)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        # Bounded, expiring maps: spraying many emails cannot grow memory without limit.
        self._failures: TTLCache[str, tuple[int, float]] = TTLCache(max_entries, FAILURE_MEMORY_SECONDS)
        self._locked_until: TTLCache[str, float] = TTLCache(max_entries, MAX_DELAY_SECONDS)
        self._trusted: TTLCache[str, float] = TTLCache(max_entries, TRUSTED_SECONDS)

    def _trusted_now(self, email: str, ip: str | None) -> bool:
        return self._trusted.get(f"{email}|{ip}", 0.0) > time.monotonic()

    async def wait_seconds(self, email: str, ip: str | None) -> int:
        now = time.monotonic()
        waits = [self._locked_until.get(c.key, 0.0) - now for c in _applicable(email, ip, self._trusted_now(email, ip))]
        return max(0, int(max(waits, default=0.0) + 0.999))

    async def failed(self, email: str, ip: str | None) -> None:
        now = time.monotonic()
        for counter in counters(email, ip):
            failures, last = self._failures.get(counter.key, (0, now))
            failures = 1 if now - last > FAILURE_MEMORY_SECONDS else failures + 1
            self._failures[counter.key] = (failures, now)
            delay = delay_after(failures, counter.free_failures)
            if delay:
                self._locked_until[counter.key] = now + delay

    async def succeeded(self, email: str, ip: str | None) -> None:
        for counter in counters(email, ip):
            if not counter.key.startswith("ip:"):
                self._failures.pop(counter.key, None)
                self._locked_until.pop(counter.key, None)
        self._trusted[f"{email}|{ip}"] = time.monotonic() + TRUSTED_SECONDS


class RedisLoginThrottle:
    """Shared by every instance: counters and locks are Redis keys that expire by themselves."""

    def __init__(self, redis: Redis, prefix: str = "lexica:login:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def _trusted(self, email: str, ip: str | None) -> bool:
        return bool(await self._redis.exists(f"{self._prefix}trusted:{email}|{ip}"))

    async def wait_seconds(self, email: str, ip: str | None) -> int:
        applicable = _applicable(email, ip, await self._trusted(email, ip))
        ttls = [await self._redis.pttl(f"{self._prefix}lock:{c.key}") for c in applicable]
        longest = max((ttl for ttl in ttls if ttl > 0), default=0)
        return (longest + 999) // 1000

    async def failed(self, email: str, ip: str | None) -> None:
        for counter in counters(email, ip):
            key = f"{self._prefix}fail:{counter.key}"
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, FAILURE_MEMORY_SECONDS)
                failures, _ = await pipe.execute()
            delay = delay_after(int(failures), counter.free_failures)
            if delay:
                await self._redis.set(f"{self._prefix}lock:{counter.key}", "1", ex=delay)

    async def succeeded(self, email: str, ip: str | None) -> None:
        keys = [c.key for c in counters(email, ip) if not c.key.startswith("ip:")]
        await self._redis.delete(*[f"{self._prefix}{kind}:{k}" for k in keys for kind in ("fail", "lock")])
        await self._redis.set(f"{self._prefix}trusted:{email}|{ip}", "1", ex=TRUSTED_SECONDS)
