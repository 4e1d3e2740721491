"""Login throttling: growing, capped delays after failures, per account, per address and per both.

An attacker could otherwise lock a victim out by failing on purpose. Two things prevent that: every delay is
capped (15 minutes), and the per-account delay does not apply from addresses where the account signed in
successfully in the last 30 days, so the owner's usual devices keep working during an attack.

Attempts are counted before the password is checked: `reserve` checks the locks and counts the attempt in one
atomic step (one Lua script in Redis; no await between check and count in memory), and the attempt that goes past
the free ones sets the lock at once. So a burst of concurrent guesses gets exactly as many evaluations as the same
guesses sent one by one; a success then clears the account's counters (and releases its reservation on the
address's counter), a failure keeps its reservation. Without Redis, or while it is unreachable, the counters are
this process's own.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from lexica.platform.sparse_warnings import SparseWarning

logger = logging.getLogger("lexica.auth")

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
    async def reserve(self, email: str, ip: str | None) -> int:
        """Counts a sign-in attempt and returns 0, or returns the seconds to wait (and counts nothing)."""
        ...

    async def succeeded(self, email: str, ip: str | None) -> None:
        """The attempt succeeded: the account's failures and locks go, and the address is trusted."""
        ...

    async def wait_seconds(self, email: str, ip: str | None) -> int:
        """Seconds before this account may be tried from this address (0: now); counts nothing."""
        ...


def _applicable(email: str, ip: str | None, trusted: bool) -> list[Counter]:
    return [c for c in counters(email, ip) if not (trusted and c.key.startswith("acct:"))]


class MemoryLoginThrottle:
    """For a single process (the embedded default), and for any instance while Redis is unreachable."""

    def __init__(self, max_entries: int = 100_000) -> None:
        # Bounded, expiring maps: spraying many emails cannot grow memory without limit.
        self._failures: TTLCache[str, tuple[int, float]] = TTLCache(max_entries, FAILURE_MEMORY_SECONDS)
        self._locked_until: TTLCache[str, float] = TTLCache(max_entries, MAX_DELAY_SECONDS)
        self._trusted: TTLCache[str, float] = TTLCache(max_entries, TRUSTED_SECONDS)

    def _trusted_now(self, email: str, ip: str | None) -> bool:
        return self._trusted.get(f"{email}|{ip}", 0.0) > time.monotonic()

    def _wait(self, email: str, ip: str | None, now: float) -> int:
        waits = [self._locked_until.get(c.key, 0.0) - now for c in _applicable(email, ip, self._trusted_now(email, ip))]
        return max(0, math.ceil(max(waits, default=0.0)))

    async def wait_seconds(self, email: str, ip: str | None) -> int:
        return self._wait(email, ip, time.monotonic())

    async def reserve(self, email: str, ip: str | None) -> int:
        # No await from here to the return: the check and the count are one step for the event loop.
        now = time.monotonic()
        if wait := self._wait(email, ip, now):
            return wait
        for counter in counters(email, ip):
            failures, last = self._failures.get(counter.key, (0, now))
            failures = 1 if now - last > FAILURE_MEMORY_SECONDS else failures + 1
            self._failures[counter.key] = (failures, now)
            delay = delay_after(failures, counter.free_failures)
            if delay:
                self._locked_until[counter.key] = now + delay
        return 0

    async def succeeded(self, email: str, ip: str | None) -> None:
        for counter in counters(email, ip):
            if not counter.key.startswith("ip:"):
                self._failures.pop(counter.key, None)
                self._locked_until.pop(counter.key, None)
            elif (counted := self._failures.get(counter.key)) is not None and counted[0] > 0:
                self._failures[counter.key] = (counted[0] - 1, counted[1])  # release this attempt's reservation
        self._trusted[f"{email}|{ip}"] = time.monotonic() + TRUSTED_SECONDS


# KEYS: fail and lock keys of the three counters (acct-ip, acct, ip), then the trusted key.
# ARGV: the three free-failure counts, then "1" for a counter a trusted address skips, the failure memory, the cap.
_RESERVE = """
local trusted = redis.call('EXISTS', KEYS[7]) == 1
local longest = 0
for i = 1, 3 do
  if not (trusted and ARGV[3 + i] == '1') then
    local ttl = redis.call('PTTL', KEYS[3 + i])
    if ttl > longest then longest = ttl end
  end
end
if longest > 0 then return longest end
for i = 1, 3 do
  local failures = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[7])
  local free = tonumber(ARGV[i])
  if failures > free then
    local delay = math.min(2 ^ (failures - free - 1), tonumber(ARGV[8]))
    redis.call('SET', KEYS[3 + i], '1', 'EX', math.floor(delay))
  end
end
return 0
"""

# KEYS: the account's fail and lock keys (acct-ip, acct), the address's fail key, the trusted key. ARGV: trust TTL.
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if tonumber(redis.call('GET', KEYS[5]) or '0') > 0 then redis.call('DECR', KEYS[5]) end
redis.call('SET', KEYS[6], '1', 'EX', ARGV[1])
return 0
"""


class RedisLoginThrottle:
    """Shared by every instance: counters and locks are Redis keys that expire by themselves."""

    def __init__(self, redis: Redis, prefix: str = "lexica:login:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._succeeded = redis.register_script(_SUCCEEDED)

    def _trusted_key(self, email: str, ip: str | None) -> str:
        return f"{self._prefix}trusted:{email}|{ip}"

    async def wait_seconds(self, email: str, ip: str | None) -> int:
        trusted = bool(await self._redis.exists(self._trusted_key(email, ip)))
        ttls = [await self._redis.pttl(f"{self._prefix}lock:{c.key}") for c in _applicable(email, ip, trusted)]
        longest = max((ttl for ttl in ttls if ttl > 0), default=0)
        return (longest + 999) // 1000

    async def reserve(self, email: str, ip: str | None) -> int:
        found = counters(email, ip)
        keys = [f"{self._prefix}fail:{c.key}" for c in found] + [f"{self._prefix}lock:{c.key}" for c in found]
        skipped_when_trusted = ["1" if c.key.startswith("acct:") else "0" for c in found]
        args: list[str | int] = [
            *(c.free_failures for c in found),
            *skipped_when_trusted,
            FAILURE_MEMORY_SECONDS,
            MAX_DELAY_SECONDS,
        ]
        wait_ms = int(await self._reserve(keys=[*keys, self._trusted_key(email, ip)], args=args))
        return (wait_ms + 999) // 1000

    async def succeeded(self, email: str, ip: str | None) -> None:
        account = [c.key for c in counters(email, ip) if not c.key.startswith("ip:")]
        address = f"{self._prefix}fail:ip:{ip or 'unknown'}"
        keys = [f"{self._prefix}{kind}:{key}" for key in account for kind in ("fail", "lock")]
        await self._succeeded(keys=[*keys, address, self._trusted_key(email, ip)], args=[TRUSTED_SECONDS])


class FallbackLoginThrottle:
    """Redis while it answers; this process's own counters while it does not (logged at most every 30 s)."""

    def __init__(self, shared: LoginThrottle, local: LoginThrottle) -> None:
        self._shared = shared
        self._local = local
        self._warning = SparseWarning(logger)

    def _unavailable(self, exc: RedisError) -> None:
        self._warning.warn("login throttle storage unavailable, counting in this process instead: %r", exc)

    async def reserve(self, email: str, ip: str | None) -> int:
        try:
            return await self._shared.reserve(email, ip)
        except RedisError as exc:
            self._unavailable(exc)
            return await self._local.reserve(email, ip)

    async def succeeded(self, email: str, ip: str | None) -> None:
        await self._local.succeeded(email, ip)  # the attempt may have been counted here during an outage
        try:
            await self._shared.succeeded(email, ip)
        except RedisError as exc:
            self._unavailable(exc)

    async def wait_seconds(self, email: str, ip: str | None) -> int:
        try:
            return await self._shared.wait_seconds(email, ip)
        except RedisError as exc:
            self._unavailable(exc)
            return await self._local.wait_seconds(email, ip)


def build_login_throttle(redis: Redis | None) -> LoginThrottle:
    """In Redis (falling back to this process while it is unreachable) when configured, else in this process."""
    if redis is None:
        return MemoryLoginThrottle()
    return FallbackLoginThrottle(RedisLoginThrottle(redis), MemoryLoginThrottle())
