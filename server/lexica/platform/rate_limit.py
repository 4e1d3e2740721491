"""Per-client quotas with the IETF `RateLimit` headers, counted in process memory or in Redis.

Strategy: the sliding-window counter of `limits`. Against a fixed window, it does not let a client spend
two quotas back to back across a window boundary. Against the moving window (exact, one timestamp per hit),
it keeps two integers per client instead of up to `quota` timestamps (1,200 per authenticated client), and
its Redis script reads time from Redis (key TTLs) rather than from each instance's clock, so instances with
skewed clocks still agree. The price is an approximation: the previous window's hits are taken as evenly
spread. Within one window the count is exact, and in Redis each check-and-count is one atomic Lua script, which
also returns the window for the `RateLimit` header (one round trip: `lexica.platform.redis_windows`); in memory
`lexica.platform.local_windows` does the same arithmetic. `limits` parses the quotas ("100/minute").
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, get_args

import limits
from redis.asyncio import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.local_windows import LocalSlidingWindows, Window
from lexica.platform.problems import problem_response
from lexica.platform.redis_client import RedisOptions, blocking_pool, redis_options
from lexica.platform.redis_windows import RedisSlidingWindows
from lexica.platform.sparse_warnings import SparseWarning
from lexica.settings import Settings

logger = logging.getLogger("lexica.ratelimit")

ClientKind = Literal["anonymous", "authenticated", "login"]
CLIENT_KINDS: tuple[ClientKind, ...] = get_args(ClientKind)
LOGIN_PATHS = frozenset({"/api/v1/auth/token", "/api/v1/auth/register"})
DEFAULT_KEY_PREFIX = "lexica:ratelimit"
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_POOL_SIZE = 50
REDIS_POOL_WAIT_SECONDS = 2.0
STORAGE_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Whose quota a request spends: the kind picks the limit, the key picks the counter."""

    kind: ClientKind
    key: str


Identify = Callable[[Scope], Awaitable[ClientIdentity]]


def address_identity(scope: Scope) -> ClientIdentity:
    """A request without credentials: sign-in and registration count against the client address's login quota,
    all else against its anonymous one."""
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    if scope.get("method") == "POST" and scope["path"] in LOGIN_PATHS:  # a WebSocket handshake has no method
        return ClientIdentity("login", address)
    return ClientIdentity("anonymous", address)


async def default_identify(scope: Scope) -> ClientIdentity:
    """Every request by its address (`address_identity`); the app's own identifies credentials first."""
    return address_identity(scope)


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of spending one request of a quota."""

    kind: ClientKind
    allowed: bool
    remaining: int
    reset_after: int
    """Whole seconds until more quota is available; at least 1 when the request was refused."""

    @property
    def header(self) -> str:
        return f'"{self.kind}";r={self.remaining};t={self.reset_after}'


class RateLimiter:
    """One quota per client kind, each client key counted apart, in memory or in Redis.

    When Redis cannot be reached, `hit` logs a warning (at most every 30 s) and counts in this process instead:
    an outage of Redis must not become an outage of the API, nor switch the limits off. Each instance then
    enforces the quota on its own share of the traffic (so a client spread over n instances gets up to n times
    the quota until Redis is back). After a failure it counts in memory without asking Redis for
    `STORAGE_RETRY_SECONDS`, on top of the Redis client's circuit breaker.
    """

    def __init__(
        self,
        remote: RedisSlidingWindows | None,
        quotas: Mapping[ClientKind, str],
        *,
        pool: ConnectionPool | None = None,
    ) -> None:
        missing = [kind for kind in CLIENT_KINDS if kind not in quotas]
        if missing:
            raise ValueError(f"no quota for client kinds: {', '.join(missing)}")
        items = {kind: limits.parse(quotas[kind]) for kind in CLIENT_KINDS}
        self._quotas = {kind: (item.amount, item.get_expiry()) for kind, item in items.items()}
        self._policies = {kind: f'"{kind}";q={amount};w={window}' for kind, (amount, window) in self._quotas.items()}
        self._encoded_policies = {kind: policy.encode("latin-1") for kind, policy in self._policies.items()}
        self._remote = remote
        self.refusals: dict[str, int] = dict.fromkeys(CLIENT_KINDS, 0)  # requests refused, by client kind
        # This process's own counters: the only ones without Redis, the fallback while Redis is down (so limits
        # still hold per instance).
        self._local = LocalSlidingWindows()
        self._pool = pool
        self._warning = SparseWarning(logger)
        self._skip_remote_until = -math.inf

    @classmethod
    def in_memory(cls, quotas: Mapping[ClientKind, str]) -> RateLimiter:
        """Counts in this process only: right for one instance, wrong once several share the traffic."""
        return cls(None, quotas)

    @classmethod
    def redis(
        cls,
        url: str,
        quotas: Mapping[ClientKind, str],
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        options: RedisOptions | None = None,
    ) -> RateLimiter:
        """Counts in Redis at `url`, shared by every instance; connects on first use."""
        # Blocking: a burst larger than the pool waits for a connection instead of failing (and so falling
        # back); Redis runs one command at a time, so more connections than this would not answer sooner.
        # The pool comes with the app's breaker, one retry and health checks (platform/redis_client.py).
        pool = blocking_pool(
            url,
            options or RedisOptions(),
            max_connections=REDIS_POOL_SIZE,
            wait_seconds=REDIS_POOL_WAIT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return cls(RedisSlidingWindows(pool, key_prefix=key_prefix), quotas, pool=pool)

    def policy(self, kind: ClientKind) -> str:
        """The `RateLimit-Policy` field value for a kind of client."""
        return self._policies[kind]

    def response_headers(self, decision: RateLimitDecision) -> list[tuple[bytes, bytes]]:
        """`RateLimit-Policy` and `RateLimit` of a response, as ASGI header pairs."""
        return [
            (b"ratelimit-policy", self._encoded_policies[decision.kind]),
            (b"ratelimit", decision.header.encode("latin-1")),
        ]

    def quota(self, kind: ClientKind) -> tuple[int, int]:
        """(requests, window seconds) allowed to one client of a kind."""
        return self._quotas[kind]

    async def hit(self, client: ClientIdentity) -> RateLimitDecision:
        """Spends one request of the client's quota (in this process's counters without Redis or while it is
        unavailable)."""
        if self._remote is None or time.monotonic() < self._skip_remote_until:
            return self._hit_locally(client)
        amount, window_seconds = self._quotas[client.kind]
        try:
            allowed, window = await self._remote.hit(f"{client.kind}/{client.key}", amount, window_seconds)
        except Exception as exc:
            # A RedisError, or what redis-py leaks on a connection the peer reset (a transport's TypeError or
            # AttributeError, redis-py#4287): either way Redis did not answer.
            self._remote_failed(exc)
            return self._hit_locally(client)
        return self._decision(client, allowed, window)

    def _hit_locally(self, client: ClientIdentity) -> RateLimitDecision:
        amount, window_seconds = self._quotas[client.kind]
        allowed, window = self._local.hit(f"{client.kind}/{client.key}", amount, window_seconds)
        return self._decision(client, allowed, window)

    def _decision(self, client: ClientIdentity, allowed: bool, window: Window) -> RateLimitDecision:
        remaining, reset_after = _remaining_and_reset(*self._quotas[client.kind], *window)
        if allowed:
            return RateLimitDecision(client.kind, True, remaining, reset_after)
        self.refusals[client.kind] += 1
        return RateLimitDecision(client.kind, False, 0, max(1, reset_after))

    def _remote_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._skip_remote_until = now + STORAGE_RETRY_SECONDS
        self._warning.warn("rate limit storage unavailable, counting in this process instead: %r", exc)

    async def close(self) -> None:
        """Closes the Redis connections."""
        if self._pool is not None:
            await self._pool.aclose()


def _remaining_and_reset(
    amount: int, window: int, previous: int, previous_ttl: float, current: int, current_ttl: float
) -> tuple[int, int]:
    """Quota left, and whole seconds until more frees up, from the two counters of a sliding window.

    Like `SlidingWindowCounterRateLimiter.get_window_stats`, without its `ttl % window`, which reads 0 s
    instead of a whole window in the millisecond after the window's first hit.
    """
    remaining = max(0, amount - math.floor(previous * previous_ttl / window + current))
    waits = []
    if current:
        waits.append(max(0.0, current_ttl - window))  # the current window ends; its count becomes "previous"
    if previous:
        step = window / previous  # the previous window's weight loses one request every `step` seconds
        waits.append(previous_ttl % step or step)
    return remaining, math.ceil(min(waits, default=0.0))


def build_rate_limiter(settings: Settings, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> RateLimiter:
    """The limiter the settings describe: in Redis when `redis_url` is set, in memory otherwise."""
    quotas: dict[ClientKind, str] = {
        "anonymous": settings.rate_limit_anonymous,
        "authenticated": settings.rate_limit_authenticated,
        "login": settings.rate_limit_login,
    }
    if settings.redis_url:
        return RateLimiter.redis(settings.redis_url, quotas, key_prefix=key_prefix, options=redis_options(settings))
    return RateLimiter.in_memory(quotas)


class RateLimitMiddleware:
    """Refuses a client over its quota with a 429 problem; puts `RateLimit` headers on every response.

    Probes and the metrics are exempt. A WebSocket handshake is a request too: it spends one of the quota, and over
    the quota it is refused before the upgrade with the same 429 problem (the ASGI WebSocket denial response), or
    with a plain refusal (403) by a server without that extension. Other scopes pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        identify: Identify = default_identify,
        exempt_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.identify = identify
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        decision = _spent.get()
        if decision is None or scope["type"] != "http":
            decision = await self.limiter.hit(await self.identify(scope))
        else:
            _spent.set(None)  # spent once, by a front layer, for this request only
        if not decision.allowed:
            if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008, "reason": "rate limited"})
                return
            await refusal(self.limiter, scope, decision)(scope, receive, send)
            return
        encoded = self.limiter.response_headers(decision)
        replaced = {name for name, _ in encoded}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ours replace any of the same name (as MutableHeaders' item assignment would), pre-encoded.
                kept = [pair for pair in message.get("headers", ()) if pair[0].lower() not in replaced]
                message["headers"] = [*kept, *encoded]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# The decision a front layer (`lexica.platform.front`) made when it spent a request's quota before handing the
# request to the stack: the stack's limiter uses it instead of spending again.
_spent: ContextVar[RateLimitDecision | None] = ContextVar("lexica_rate_limit_spent", default=None)


@contextmanager
def already_spent(decision: RateLimitDecision | None) -> Iterator[None]:
    """While the block runs, the request's quota counts as spent with `decision` (None: not spent)."""
    token = _spent.set(decision)
    try:
        yield
    finally:
        _spent.reset(token)


def refusal(limiter: RateLimiter, scope: Scope, decision: RateLimitDecision) -> ASGIApp:
    """The 429 problem for a request its client's quota refused, with the `RateLimit` headers and `Retry-After`."""
    quota, window = limiter.quota(decision.kind)
    seconds = decision.reset_after
    return problem_response(
        429,
        "Too Many Requests",
        f"The {decision.kind} quota of {quota} requests per {window} seconds is used up; "
        f"retry in {seconds} second{'s' if seconds != 1 else ''}.",
        type_="/problems/rate-limited",
        instance=scope.get("raw_path", b"").decode("latin-1") or scope["path"],
        headers={
            "RateLimit-Policy": limiter.policy(decision.kind),
            "RateLimit": decision.header,
            "Retry-After": str(seconds),
        },
    )
