"""Every Redis client of the app comes from here: short timeouts, one retry, health checks and a circuit breaker.

What an outage costs: after `failures` consecutive connection failures or timeouts, every Redis call fails at once
with `CircuitOpenError` (a `redis.exceptions.ConnectionError`, so `except RedisError` keeps working everywhere) for
`reset_seconds`; then one call is let through as a trial (half-open): if it succeeds the circuit closes, if not it
opens again. Without it, each request would wait for its own connect or read timeout, one after another.

What a restart costs: nothing. A pooled connection that Redis closed fails once and the command is retried on a new
connection (`Retry` with a short backoff, on `ConnectionError` and `TimeoutError`), and connections idle for longer
than `health_check_seconds` are checked with a PING before use.

Why a breaker of our own (60 lines) rather than a library: pybreaker's asynchronous calls need Tornado; aiobreaker
has had no release since 2021; purgatory is maintained but is a framework (named circuits behind an async factory,
a unit of work, a message bus) whose open-circuit error is not a Redis `ConnectionError`. The breaker has to sit
inside redis-py, where one synchronous decision is taken before each call and its outcome recorded after: it wraps
`Retry.call_with_retry`, through which redis-py sends every command, pipeline, connect and health check.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from lexica.settings import Settings

logger = logging.getLogger("lexica.redis")

T = TypeVar("T")
State = Literal["closed", "open", "half-open"]
BLOCKING_PACE_SECONDS = 0.5
RETRY_ERRORS: tuple[type[RedisError], ...] = (RedisConnectionError, RedisTimeoutError)
_inside_call: contextvars.ContextVar[bool] = contextvars.ContextVar("lexica_redis_inside_call", default=False)


class CircuitOpenError(RedisConnectionError):
    """Redis is presumed down: the call was not attempted."""


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """Timeouts and breaker thresholds (the `LEXICA_REDIS_*` settings)."""

    socket_timeout: float | None = 2.0
    connect_timeout: float = 1.0
    health_check_seconds: int = 15
    breaker_failures: int = 3
    breaker_reset_seconds: float = 5.0


class CircuitBreaker:
    """Consecutive-failure breaker: closed -> open (fail fast) -> half-open (one trial) -> closed or open again."""

    def __init__(self, failures: int, reset_seconds: float, *, name: str = "redis") -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.name = name
        self._consecutive = 0
        self.failure_count = 0  # calls that failed since start-up (the metrics)
        self._opened_at: float | None = None
        self._trial_until = 0.0  # half-open: no other trial before this (a trial that hangs does not block forever)

    def __deepcopy__(self, memo: dict[int, Any]) -> CircuitBreaker:
        return self  # redis-py deep-copies the Retry into every connection; they must all share one breaker

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "open" if time.monotonic() - self._opened_at < self.reset_seconds else "half-open"

    def before_call(self) -> None:
        """Raises `CircuitOpenError` unless the call may go ahead."""
        if self._opened_at is None:
            return
        now = time.monotonic()
        if now - self._opened_at >= self.reset_seconds and now >= self._trial_until:
            self._trial_until = now + self.reset_seconds  # this call is the trial
            return
        raise CircuitOpenError(f"Redis circuit open: calls fail fast for up to {self.reset_seconds:g} s")

    def succeeded(self) -> None:
        if self._opened_at is not None:
            logger.warning("Redis answers again: circuit closed")
        self._consecutive = 0
        self._opened_at = None
        self._trial_until = 0.0

    def failed(self, error: BaseException) -> None:
        self._consecutive += 1
        self.failure_count += 1
        if self._opened_at is not None or self._consecutive >= self.failures:
            if self._opened_at is None:
                logger.warning("Redis unreachable (%r): circuit open for %g s", error, self.reset_seconds)
            self._opened_at = time.monotonic()
            self._trial_until = 0.0

    def abandoned(self) -> None:
        """A call ended without an answer either way (cancelled): a half-open circuit may try again."""
        self._trial_until = 0.0


class BreakerRetry(Retry):
    """redis-py's `Retry`, behind a circuit breaker; only the outermost call of a task asks and reports."""

    def __init__(self, breaker: CircuitBreaker, *, retries: int = 1, pace_when_open: float = 0.0) -> None:
        super().__init__(ExponentialWithJitterBackoff(cap=0.2, base=0.02), retries, RETRY_ERRORS)
        self.breaker = breaker
        self.pace_when_open = pace_when_open

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        if _inside_call.get():  # a connect or health check inside a command: the command decides and reports
            return await super().call_with_retry(do, fail, is_retryable, with_failure_count)
        try:
            self.breaker.before_call()
        except CircuitOpenError:
            if self.pace_when_open:  # a consumer loop (BLMOVE, pub/sub) would otherwise spin on the failure
                await asyncio.sleep(self.pace_when_open)
            raise
        token = _inside_call.set(True)
        try:
            result = await super().call_with_retry(do, fail, is_retryable, with_failure_count)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.breaker.failed(error)
            raise
        except RedisError:
            self.breaker.succeeded()  # an error Redis answered with (a script error, a wrong type): it is up
            raise
        except BaseException:
            self.breaker.abandoned()  # cancelled: no answer either way
            raise
        finally:
            _inside_call.reset(token)
        self.breaker.succeeded()
        return result


_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(url: str, options: RedisOptions) -> CircuitBreaker:
    """One breaker per Redis URL in this process: every client of a Redis that is down learns it at once."""
    breaker = _breakers.get(url)
    if breaker is None:
        breaker = _breakers[url] = CircuitBreaker(options.breaker_failures, options.breaker_reset_seconds)
    return breaker


def _connection_options(
    url: str, options: RedisOptions, socket_timeout: float | None, breaker: CircuitBreaker | None
) -> dict[str, Any]:
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": options.connect_timeout,
        "health_check_interval": options.health_check_seconds,
        # A client without a read timeout serves blocking consumers: while the circuit is open, its calls fail
        # after a pause rather than at once, so that their loops do not spin.
        "retry": BreakerRetry(
            breaker or breaker_for(url, options), pace_when_open=BLOCKING_PACE_SECONDS if socket_timeout is None else 0
        ),
        "retry_on_error": list(RETRY_ERRORS),
    }


_DEFAULT = RedisOptions()
_SAME: Any = object()


def redis_client(
    url: str,
    options: RedisOptions = _DEFAULT,
    *,
    socket_timeout: float | None = _SAME,
    breaker: CircuitBreaker | None = None,
) -> Redis:
    """A client of `url` with the breaker; `socket_timeout` overrides the read timeout (None: block, for BLMOVE).

    `breaker`: one of the caller's own instead of the process's breaker for `url` (tests).
    """
    timeout = options.socket_timeout if socket_timeout is _SAME else socket_timeout
    return Redis.from_url(url, **_connection_options(url, options, timeout, breaker))


def blocking_pool(
    url: str,
    options: RedisOptions = _DEFAULT,
    *,
    max_connections: int,
    wait_seconds: float,
    socket_timeout: float | None,
) -> BlockingConnectionPool:
    """A pool whose callers wait up to `wait_seconds` for a free connection (for libraries that take a pool)."""
    return BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait_seconds,
        **_connection_options(url, options, socket_timeout, None),
    )


def redis_options(settings: Settings) -> RedisOptions:
    """The options the `LEXICA_REDIS_*` settings describe."""
    return RedisOptions(
        socket_timeout=settings.redis_socket_timeout_seconds,
        connect_timeout=settings.redis_connect_timeout_seconds,
        health_check_seconds=settings.redis_health_check_seconds,
        breaker_failures=settings.redis_breaker_failures,
        breaker_reset_seconds=settings.redis_breaker_reset_seconds,
    )
