"""Login throttling: growing, capped lock-outs per account and address, per account, per address."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.asyncio import Redis

from lexica.auth import throttle
from lexica.auth.throttle import (
    FAILURE_MEMORY_SECONDS,
    MAX_DELAY_SECONDS,
    TRUSTED_SECONDS,
    LoginThrottle,
    MemoryLoginThrottle,
    RedisLoginThrottle,
    delay_after,
)
from tests.auth.conftest import Server
from tests.auth.helpers import (
    STRONG_PASSWORD,
    Session,
    TotpClock,
    assert_invalid_grant,
    assert_problem,
    enable_mfa,
    password_grant,
    sign_in,
    sign_up,
)

WRONG_PASSWORD = "Not-The-Right-One-42"
HOME = "192.0.2.10"
ATTACKERS = ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4")
EMAIL = "victim@example.com"


class MonotonicClock:
    """Stands in for the `time` module of `lexica.auth.throttle`."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    fake = MonotonicClock()
    monkeypatch.setattr(throttle, "time", fake)
    return fake


@pytest.fixture
async def session(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


async def fail(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        assert_invalid_grant(await password_grant(client, email, WRONG_PASSWORD))


async def fail_from_many_addresses(server: Server, email: str, times: int) -> None:
    """Failures spread over the attackers' addresses, none of which reaches its own limit of 5."""
    clients = [server.client(address) for address in ATTACKERS]
    for n in range(times):
        await fail(clients[n % len(clients)], email, 1)


def assert_throttled(response: httpx.Response) -> int:
    """The response is a 429 problem; its Retry-After in seconds."""
    assert_problem(response, 429)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= MAX_DELAY_SECONDS
    return retry_after


async def failures(limiter: LoginThrottle, email: str, ip: str, times: int) -> None:
    for _ in range(times):
        await limiter.failed(email, ip)


# over HTTP, with the in-process throttle


async def test_five_failures_from_one_address_do_not_lock(api: httpx.AsyncClient, session: Session) -> None:
    await fail(api, session.email, 5)

    assert (await password_grant(api, session.email, STRONG_PASSWORD)).status_code == 200


async def test_sixth_failure_locks_the_account_at_that_address_with_429_and_retry_after(
    api: httpx.AsyncClient, session: Session
) -> None:
    await fail(api, session.email, 6)

    assert assert_throttled(await password_grant(api, session.email, WRONG_PASSWORD)) == 1


async def test_correct_password_is_refused_while_locked(api: httpx.AsyncClient, session: Session) -> None:
    await fail(api, session.email, 6)

    assert_throttled(await password_grant(api, session.email, STRONG_PASSWORD))


async def test_lock_is_lifted_after_retry_after(api: httpx.AsyncClient, session: Session) -> None:
    await fail(api, session.email, 6)
    retry_after = assert_throttled(await password_grant(api, session.email, STRONG_PASSWORD))

    await asyncio.sleep(retry_after + 0.05)

    assert (await password_grant(api, session.email, STRONG_PASSWORD)).status_code == 200


async def test_throttled_attempt_is_audited(server: Server, api: httpx.AsyncClient, session: Session) -> None:
    await fail(api, session.email, 6)

    await password_grant(api, session.email, STRONG_PASSWORD)

    assert (await server.audit_actions())[0] == "login.throttled"


async def test_lock_at_one_address_does_not_apply_at_another(server: Server, session: Session) -> None:
    attacker = server.client(ATTACKERS[0])
    await fail(attacker, session.email, 6)

    assert (await password_grant(server.client(HOME), session.email, STRONG_PASSWORD)).status_code == 200


async def test_failures_across_addresses_lock_the_account_for_new_addresses(server: Server, session: Session) -> None:
    await fail_from_many_addresses(server, session.email, 11)

    assert_throttled(await password_grant(server.client("203.0.113.99"), session.email, STRONG_PASSWORD))


async def test_address_with_a_recent_sign_in_is_not_locked_by_the_account_wide_lock(
    server: Server, session: Session
) -> None:
    home = server.client(HOME)
    await sign_in(home, session.email)
    await fail_from_many_addresses(server, session.email, 11)
    assert_throttled(await password_grant(server.client(ATTACKERS[0]), session.email, STRONG_PASSWORD))

    assert (await password_grant(home, session.email, STRONG_PASSWORD)).status_code == 200


async def test_successful_sign_in_resets_the_failures_at_that_address(api: httpx.AsyncClient, session: Session) -> None:
    await fail(api, session.email, 5)
    await sign_in(api, session.email)
    await fail(api, session.email, 5)

    assert (await password_grant(api, session.email, STRONG_PASSWORD)).status_code == 200


async def test_unknown_accounts_are_throttled_like_known_ones(api: httpx.AsyncClient) -> None:
    await fail(api, "nobody@example.com", 6)

    assert_throttled(await password_grant(api, "nobody@example.com", WRONG_PASSWORD))


async def test_wrong_one_time_codes_count_as_failures(
    api: httpx.AsyncClient, session: Session, totp_clock: TotpClock
) -> None:
    mfa = await enable_mfa(api, session, totp_clock)
    for _ in range(6):
        await password_grant(api, session.email, STRONG_PASSWORD, "000000")

    assert_throttled(await password_grant(api, session.email, STRONG_PASSWORD, totp_clock.code(mfa.secret)))


# delays


@pytest.mark.parametrize(
    ("failures", "free", "delay"),
    [(0, 5, 0), (5, 5, 0), (6, 5, 1), (7, 5, 2), (8, 5, 4), (11, 10, 1), (51, 50, 1), (15, 5, 512)],
)
def test_delay_doubles_with_each_failure_after_the_free_ones(failures: int, free: int, delay: int) -> None:
    assert delay_after(failures, free) == delay


@pytest.mark.parametrize("failures", [16, 17, 40, 10_000])
def test_delay_is_capped_at_fifteen_minutes(failures: int) -> None:
    assert delay_after(failures, 5) == MAX_DELAY_SECONDS == 900


# the in-process throttle, on a controlled clock


async def test_memory_throttle_waits_grow_then_stay_capped(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    waits = []
    for _ in range(20):
        await limiter.failed(EMAIL, HOME)
        waits.append(await limiter.wait_seconds(EMAIL, HOME))

    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900]


async def test_memory_throttle_lock_ends_when_its_delay_has_passed(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await failures(limiter, EMAIL, HOME, 8)
    assert await limiter.wait_seconds(EMAIL, HOME) == 4

    clock.advance(3.5)
    assert await limiter.wait_seconds(EMAIL, HOME) == 1
    clock.advance(0.5)
    assert await limiter.wait_seconds(EMAIL, HOME) == 0


async def test_memory_throttle_forgets_failures_after_an_hour_without_one(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await failures(limiter, EMAIL, HOME, 5)

    clock.advance(FAILURE_MEMORY_SECONDS + 1)
    await limiter.failed(EMAIL, HOME)

    assert await limiter.wait_seconds(EMAIL, HOME) == 0


async def test_memory_throttle_locks_an_account_after_ten_failures_from_many_addresses(
    clock: MonotonicClock,
) -> None:
    limiter = MemoryLoginThrottle()
    for n in range(11):
        await limiter.failed(EMAIL, f"198.51.100.{n}")

    assert await limiter.wait_seconds(EMAIL, "203.0.113.1") == 1


async def test_memory_throttle_spares_a_trusted_address_from_the_account_lock(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await limiter.succeeded(EMAIL, HOME)
    for n in range(20):
        await limiter.failed(EMAIL, f"198.51.100.{n}")

    assert await limiter.wait_seconds(EMAIL, HOME) == 0
    assert await limiter.wait_seconds(EMAIL, "203.0.113.1") > 0


async def test_memory_throttle_trust_lapses_after_thirty_days(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await limiter.succeeded(EMAIL, HOME)
    clock.advance(TRUSTED_SECONDS + 1)
    for n in range(11):
        await limiter.failed(EMAIL, f"198.51.100.{n}")

    assert await limiter.wait_seconds(EMAIL, HOME) == 1


async def test_memory_throttle_locks_an_address_after_fifty_failures_across_accounts(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    for n in range(51):
        await limiter.failed(f"user{n}@example.com", HOME)

    assert await limiter.wait_seconds("fresh@example.com", HOME) == 1
    assert await limiter.wait_seconds("fresh@example.com", "203.0.113.1") == 0


async def test_memory_throttle_success_clears_the_account_but_not_the_address(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    for n in range(51):
        await limiter.failed(EMAIL if n < 6 else f"user{n}@example.com", HOME)

    await limiter.succeeded(EMAIL, HOME)

    assert await limiter.wait_seconds("fresh@example.com", HOME) == 1


# the Redis throttle, against a real server


@pytest.fixture
def redis_throttle(redis: Redis, redis_key_prefix: str) -> RedisLoginThrottle:
    return RedisLoginThrottle(redis, prefix=redis_key_prefix)


async def test_redis_throttle_locks_after_the_sixth_failure(redis_throttle: RedisLoginThrottle) -> None:
    await failures(redis_throttle, EMAIL, HOME, 5)
    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 0

    await redis_throttle.failed(EMAIL, HOME)

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 1


async def test_redis_throttle_waits_are_capped(redis_throttle: RedisLoginThrottle) -> None:
    await failures(redis_throttle, EMAIL, HOME, 25)

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == MAX_DELAY_SECONDS


async def test_redis_throttle_spares_a_trusted_address_from_the_account_lock(
    redis_throttle: RedisLoginThrottle,
) -> None:
    await redis_throttle.succeeded(EMAIL, HOME)
    for n in range(14):
        await redis_throttle.failed(EMAIL, f"198.51.100.{n}")

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 0
    assert await redis_throttle.wait_seconds(EMAIL, "203.0.113.1") == 8


async def test_redis_throttle_success_lifts_the_account_locks(redis_throttle: RedisLoginThrottle) -> None:
    await failures(redis_throttle, EMAIL, HOME, 8)

    await redis_throttle.succeeded(EMAIL, HOME)

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 0


async def test_redis_throttle_is_shared_by_instances(redis: Redis, redis_key_prefix: str) -> None:
    one, two = RedisLoginThrottle(redis, prefix=redis_key_prefix), RedisLoginThrottle(redis, prefix=redis_key_prefix)

    await failures(one, EMAIL, HOME, 3)
    await failures(two, EMAIL, HOME, 3)

    assert await one.wait_seconds(EMAIL, HOME) == await two.wait_seconds(EMAIL, HOME) == 1


async def test_redis_throttle_keys_all_expire(
    redis: Redis, redis_key_prefix: str, redis_throttle: RedisLoginThrottle
) -> None:
    await failures(redis_throttle, EMAIL, HOME, 7)
    await redis_throttle.succeeded("other@example.com", HOME)

    keys = [key async for key in redis.scan_iter(match=f"{redis_key_prefix}*")]

    assert keys
    for key in keys:
        assert 0 < await redis.ttl(key) <= max(FAILURE_MEMORY_SECONDS, TRUSTED_SECONDS)
