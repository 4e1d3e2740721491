"""Login throttling: growing, capped lock-outs per account and address, per account, per address."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from lexica.auth import throttle
from lexica.auth.throttle import (
    FAILURE_MEMORY_SECONDS,
    MAX_DELAY_SECONDS,
    TRUSTED_SECONDS,
    FallbackLoginThrottle,
    LoginThrottle,
    MemoryLoginThrottle,
    RedisLoginThrottle,
    delay_after,
)
from lexica.platform.redis_client import redis_client
from tests.auth.conftest import Server, SettingsFactory, running
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


async def failures(limiter: LoginThrottle, email: str, ip: str, times: int) -> list[int]:
    """Attempts that fail, one after another, on a clock that does not move; the wait each reservation answered."""
    return [await limiter.reserve(email, ip) for _ in range(times)]


async def failures_waiting(limiter: LoginThrottle, clock: MonotonicClock, email: str, ip: str, times: int) -> None:
    """Attempts that fail, each made once the lock of the previous one has passed (so each is counted)."""
    for _ in range(times):
        clock.advance(await limiter.wait_seconds(email, ip))
        assert await limiter.reserve(email, ip) == 0


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
        assert await limiter.reserve(EMAIL, HOME) == 0
        waits.append(await limiter.wait_seconds(EMAIL, HOME))
        clock.advance(waits[-1])

    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900]


async def test_memory_throttle_lock_ends_when_its_delay_has_passed(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await failures_waiting(limiter, clock, EMAIL, HOME, 8)
    assert await limiter.wait_seconds(EMAIL, HOME) == 4

    clock.advance(3.5)
    assert await limiter.wait_seconds(EMAIL, HOME) == 1
    clock.advance(0.5)
    assert await limiter.wait_seconds(EMAIL, HOME) == 0


async def test_memory_throttle_forgets_failures_after_an_hour_without_one(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await failures(limiter, EMAIL, HOME, 5)

    clock.advance(FAILURE_MEMORY_SECONDS + 1)
    await limiter.reserve(EMAIL, HOME)

    assert await limiter.wait_seconds(EMAIL, HOME) == 0


async def test_memory_throttle_locks_an_account_after_ten_failures_from_many_addresses(
    clock: MonotonicClock,
) -> None:
    limiter = MemoryLoginThrottle()
    for n in range(11):
        await limiter.reserve(EMAIL, f"198.51.100.{n}")

    assert await limiter.wait_seconds(EMAIL, "203.0.113.1") == 1


async def test_memory_throttle_spares_a_trusted_address_from_the_account_lock(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await limiter.succeeded(EMAIL, HOME)
    for n in range(20):
        await limiter.reserve(EMAIL, f"198.51.100.{n}")

    assert await limiter.wait_seconds(EMAIL, HOME) == 0
    assert await limiter.wait_seconds(EMAIL, "203.0.113.1") > 0


async def test_memory_throttle_trust_lapses_after_thirty_days(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    await limiter.succeeded(EMAIL, HOME)
    clock.advance(TRUSTED_SECONDS + 1)
    for n in range(11):
        await limiter.reserve(EMAIL, f"198.51.100.{n}")

    assert await limiter.wait_seconds(EMAIL, HOME) == 1


async def test_memory_throttle_locks_an_address_after_fifty_failures_across_accounts(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    for n in range(51):
        await limiter.reserve(f"user{n}@example.com", HOME)

    assert await limiter.wait_seconds("fresh@example.com", HOME) == 1
    assert await limiter.wait_seconds("fresh@example.com", "203.0.113.1") == 0


async def test_memory_throttle_success_clears_the_account_but_not_the_address(clock: MonotonicClock) -> None:
    limiter = MemoryLoginThrottle()
    for n in range(51):
        assert await limiter.reserve(EMAIL if n < 6 else f"user{n}@example.com", HOME) == 0

    await limiter.succeeded(EMAIL, HOME)

    assert await limiter.wait_seconds("fresh@example.com", HOME) == 1


# the Redis throttle, against a real server


@pytest.fixture
def redis_throttle(redis: Redis, redis_key_prefix: str) -> RedisLoginThrottle:
    return RedisLoginThrottle(redis, prefix=redis_key_prefix)


async def test_redis_throttle_locks_after_the_sixth_failure(redis_throttle: RedisLoginThrottle) -> None:
    assert await failures(redis_throttle, EMAIL, HOME, 5) == [0] * 5
    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 0

    assert await redis_throttle.reserve(EMAIL, HOME) == 0

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 1
    assert await redis_throttle.reserve(EMAIL, HOME) == 1


async def test_redis_throttle_waits_are_capped(
    redis: Redis, redis_key_prefix: str, redis_throttle: RedisLoginThrottle
) -> None:
    # 24 failures counted earlier (each after the lock of the one before it had passed)
    await redis.set(f"{redis_key_prefix}fail:acct-ip:{EMAIL}|{HOME}", 24, ex=FAILURE_MEMORY_SECONDS)

    assert await redis_throttle.reserve(EMAIL, HOME) == 0

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == MAX_DELAY_SECONDS


async def test_redis_throttle_spares_a_trusted_address_from_the_account_lock(
    redis_throttle: RedisLoginThrottle,
) -> None:
    await redis_throttle.succeeded(EMAIL, HOME)
    for n in range(11):
        assert await redis_throttle.reserve(EMAIL, f"198.51.100.{n}") == 0

    assert await redis_throttle.wait_seconds(EMAIL, HOME) == 0
    assert await redis_throttle.reserve(EMAIL, "203.0.113.1") == 1
    assert await redis_throttle.reserve(EMAIL, HOME) == 0


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


# reservations: an attempt is counted before its password is checked, so a burst gets no more tries than a sequence

BURST = 40
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(params=["memory", "redis", "redis-down"])
async def any_throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    if request.param == "memory":
        yield MemoryLoginThrottle()
        return
    if request.param == "redis-down":
        down = redis_client(UNREACHABLE_REDIS)
        yield FallbackLoginThrottle(RedisLoginThrottle(down), MemoryLoginThrottle())
        await down.aclose()
        return
    prefix = request.getfixturevalue("redis_key_prefix")
    client = redis_client(request.getfixturevalue("redis_url"))
    try:
        yield RedisLoginThrottle(client, prefix=prefix)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_concurrent_attempts_are_counted_before_any_is_evaluated(any_throttle: LoginThrottle) -> None:
    waits = await asyncio.gather(*(any_throttle.reserve(EMAIL, HOME) for _ in range(BURST)))

    assert waits.count(0) == 6  # as many as one by one: five free failures, then the sixth that sets the lock
    assert all(wait == 1 for wait in waits if wait)
    assert await any_throttle.wait_seconds(EMAIL, HOME) == 1


async def test_success_clears_the_account_and_releases_its_reservation_on_the_address(
    any_throttle: LoginThrottle,
) -> None:
    assert await failures(any_throttle, EMAIL, HOME, 6) == [0] * 6

    await any_throttle.succeeded(EMAIL, HOME)

    assert await any_throttle.wait_seconds(EMAIL, HOME) == 0
    assert await failures(any_throttle, EMAIL, HOME, 6) == [0] * 6


async def test_unreachable_redis_throttles_in_this_process_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    down = redis_client(UNREACHABLE_REDIS)
    limiter = FallbackLoginThrottle(RedisLoginThrottle(down), MemoryLoginThrottle())
    try:
        with caplog.at_level(logging.WARNING, logger="lexica.auth"):
            waits = [await limiter.reserve(EMAIL, HOME) for _ in range(8)]
            await limiter.succeeded(EMAIL, HOME)
    finally:
        await down.aclose()

    assert waits == [0] * 6 + [1, 1]
    assert await limiter.wait_seconds(EMAIL, HOME) == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "lexica.auth"]
    assert len(warnings) == 1
    assert "counting in this process instead" in warnings[0]


async def burst_then_right_password(client: httpx.AsyncClient, email: str) -> tuple[list[int], int]:
    """BURST wrong passwords and then the right one, all sent at once: the statuses of the wrong ones, the right's."""
    attempts = [password_grant(client, email, WRONG_PASSWORD) for _ in range(BURST)]
    *wrong, right = await asyncio.gather(*attempts, password_grant(client, email, STRONG_PASSWORD))
    return [response.status_code for response in wrong], right.status_code


async def test_a_burst_of_wrong_passwords_gets_six_tries_and_the_right_one_in_it_is_refused(
    api: httpx.AsyncClient, session: Session
) -> None:
    wrong, right = await burst_then_right_password(api, session.email)

    assert sorted(wrong) == [400] * 6 + [429] * (BURST - 6)
    assert right == 429


async def test_a_burst_against_the_redis_throttle_gets_six_tries(settings_for: SettingsFactory, redis_url: str) -> None:
    async with running(settings_for(redis_url=redis_url)) as server:
        # An address of this test's own: the shared Redis keeps per-address counters across test runs.
        client = server.client(f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}")
        session = await sign_up(client)

        # Several connections to Redis carry the burst, so its order there is not the order sent: a right password
        # in it may be one of the six (and succeed), so the burst is of wrong ones only.
        burst = await asyncio.gather(*(password_grant(client, session.email, WRONG_PASSWORD) for _ in range(BURST)))

    assert sorted(response.status_code for response in burst) == [400] * 6 + [429] * (BURST - 6)
