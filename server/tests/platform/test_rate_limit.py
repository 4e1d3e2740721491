from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

from lexica._generated.routes import OPERATIONS
from lexica.platform.rate_limit import (
    ClientIdentity,
    RateLimiter,
    RateLimitMiddleware,
    build_rate_limiter,
    default_identify,
)
from lexica.settings import Settings
from tests.platform.conftest import require_redis
from tests.platform.private_redis import private_redis

# Hour-long windows: the in-memory counter aligns its windows to the clock; a test must not straddle two.
QUOTAS = {
    "rate_limit_anonymous": "5/hour",
    "rate_limit_authenticated": "8/hour",
    "rate_limit_login": "2/hour",
}
RATE_LIMIT = re.compile(r'^"(?P<kind>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def limit_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", "tune_gc": False, "redis_url": None, **QUOTAS}
    values.update(overrides)
    return Settings(**values)


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def tiny_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/v1/words/{headword}", ok),
            Route("/health/live", ok),
            Route("/health/ready", ok),
            Route("/api/v1/auth/token", ok, methods=["POST"]),
            Route("/api/v1/auth/register", ok, methods=["POST"]),
        ]
    )


def client_of(app: ASGIApp, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://lexica.test")


def remaining(response: httpx.Response) -> int:
    match = RATE_LIMIT.match(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return int(match["r"])


async def identify_by_test_header(scope: Scope) -> ClientIdentity:
    user = Headers(scope=scope).get("x-test-user")
    if user:
        return ClientIdentity("authenticated", f"user:{user}")
    return await default_identify(scope)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_key_prefix")
        built = build_rate_limiter(limit_settings(redis_url=url), key_prefix=prefix)
    else:
        built = build_rate_limiter(limit_settings())
    yield built
    await built.close()


async def test_response_carries_policy_and_remaining_quota_headers(limiter: RateLimiter) -> None:
    async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter)) as client:
        first = await client.get("/api/v1/words/apple")
        second = await client.get("/api/v1/words/apple")

    assert first.status_code == 200
    assert first.headers["RateLimit-Policy"] == '"anonymous";q=5;w=3600'
    match = RATE_LIMIT.match(first.headers["RateLimit"])
    assert match
    assert match["kind"] == "anonymous"
    assert int(match["r"]) == 4
    assert 0 < int(match["t"]) <= 3600
    assert remaining(second) == 3


async def test_client_over_quota_gets_429_problem_with_retry_after(limiter: RateLimiter) -> None:
    async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter)) as client:
        statuses = [(await client.get("/api/v1/words/apple")).status_code for _ in range(5)]
        refused = await client.get("/api/v1/words/apple")

    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert refused.headers["RateLimit-Policy"] == '"anonymous";q=5;w=3600'
    assert refused.headers["RateLimit"] == f'"anonymous";r=0;t={retry_after}'
    problem = refused.json()
    assert problem["type"] == "/problems/rate-limited"
    assert problem["title"] == "Too Many Requests"
    assert problem["status"] == 429
    assert f"retry in {retry_after} second" in problem["detail"]
    assert problem["instance"] == "/api/v1/words/apple"


async def test_each_client_address_has_its_own_quota(limiter: RateLimiter) -> None:
    app = RateLimitMiddleware(tiny_app(), limiter=limiter)
    async with client_of(app, "198.51.100.1") as first, client_of(app, "198.51.100.2") as second:
        for _ in range(5):
            await first.get("/api/v1/words/apple")
        assert (await first.get("/api/v1/words/apple")).status_code == 429
        other = await second.get("/api/v1/words/apple")

    assert other.status_code == 200
    assert remaining(other) == 4


async def test_login_routes_spend_the_login_quota_not_the_anonymous_one(limiter: RateLimiter) -> None:
    async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter)) as client:
        token = await client.post("/api/v1/auth/token")
        register = await client.post("/api/v1/auth/register")
        refused = await client.post("/api/v1/auth/token")
        read = await client.get("/api/v1/words/apple")

    assert token.headers["RateLimit-Policy"] == '"login";q=2;w=3600'
    assert remaining(token) == 1
    assert register.status_code == 200
    assert refused.status_code == 429
    assert refused.headers["RateLimit"].startswith('"login";r=0;')
    assert read.status_code == 200
    assert remaining(read) == 4


async def test_authenticated_clients_spend_their_own_quota_per_key(limiter: RateLimiter) -> None:
    app = RateLimitMiddleware(tiny_app(), limiter=limiter, identify=identify_by_test_header)
    async with client_of(app) as client:
        ada = [await client.get("/api/v1/words/apple", headers={"x-test-user": "ada"}) for _ in range(9)]
        bob = await client.get("/api/v1/words/apple", headers={"x-test-user": "bob"})
        anonymous = await client.get("/api/v1/words/apple")

    assert ada[0].headers["RateLimit-Policy"] == '"authenticated";q=8;w=3600'
    assert [r.status_code for r in ada] == [200] * 8 + [429]
    assert remaining(bob) == 7
    assert remaining(anonymous) == 4


async def test_probes_are_neither_limited_nor_counted(limiter: RateLimiter) -> None:
    # The operations the spec marks `x-lexica-rate-limit: exempt`, as the app passes them.
    exempt = frozenset(operation.path for operation in OPERATIONS if not operation.rate_limited)
    assert exempt == {"/health/live", "/health/ready", "/metrics"}
    async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter, exempt_paths=exempt)) as client:
        probes = [await client.get(path) for path in ["/health/live", "/health/ready"] * 5]
        read = await client.get("/api/v1/words/apple")

    assert all(p.status_code == 200 for p in probes)
    assert all("RateLimit" not in p.headers for p in probes)
    assert remaining(read) == 4


async def test_default_identify_counts_only_login_posts_as_login() -> None:
    def scope(method: str, path: str) -> Scope:
        return {"type": "http", "method": method, "path": path, "client": ("192.0.2.9", 5000)}

    assert await default_identify(scope("POST", "/api/v1/auth/token")) == ClientIdentity("login", "192.0.2.9")
    assert await default_identify(scope("POST", "/api/v1/auth/register")) == ClientIdentity("login", "192.0.2.9")
    assert await default_identify(scope("GET", "/api/v1/auth/token")) == ClientIdentity("anonymous", "192.0.2.9")
    assert await default_identify({**scope("GET", "/"), "client": None}) == ClientIdentity("anonymous", "unknown")


async def test_lifespan_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def never_receive() -> Message:
        raise AssertionError("the middleware must not read from the channel")

    async def never_send(message: Message) -> None:
        raise AssertionError("the middleware must not send on the channel")

    limiter = build_rate_limiter(limit_settings(rate_limit_anonymous="1/hour"))
    try:
        middleware = RateLimitMiddleware(app, limiter=limiter)
        for _ in range(3):
            await middleware({"type": "lifespan"}, never_receive, never_send)
    finally:
        await limiter.close()

    assert seen == ["lifespan"] * 3


async def test_websocket_handshakes_spend_the_quota_and_are_refused_over_it() -> None:
    """A handshake is a request: over the quota it gets the 429 problem (WebSocket denial response), or a plain
    refusal from a server without that extension. It used to pass untouched (1,500 sockets in 4.5 s)."""
    reached: list[str] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    async def never_receive() -> Message:
        raise AssertionError("the middleware must not read from the channel")

    async def record(message: Message) -> None:
        sent.append(message)

    def handshake(*, denial: bool) -> Scope:
        extensions: dict[str, dict[str, object]] = {"websocket.http.response": {}} if denial else {}
        return {"type": "websocket", "path": "/ws", "client": ("192.0.2.1", 1), "headers": [], "extensions": extensions}

    limiter = build_rate_limiter(limit_settings(rate_limit_anonymous="1/hour"))
    try:
        middleware = RateLimitMiddleware(app, limiter=limiter)
        await middleware(handshake(denial=True), never_receive, record)
        await middleware(handshake(denial=True), never_receive, record)
        await middleware(handshake(denial=False), never_receive, record)
    finally:
        await limiter.close()

    assert reached == ["websocket"]
    start, body, close = sent
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 429
    assert Headers(raw=start["headers"])["content-type"].startswith("application/problem+json")
    assert body["type"] == "websocket.http.response.body"
    assert close == {"type": "websocket.close", "code": 1008, "reason": "rate limited"}


async def test_limiter_reads_quotas_from_settings() -> None:
    limiter = build_rate_limiter(
        limit_settings(
            rate_limit_anonymous="300/minute",
            rate_limit_authenticated="1200 per 1 minute",
            rate_limit_login="20 per 5 minutes",
        )
    )
    await limiter.close()

    assert limiter.policy("anonymous") == '"anonymous";q=300;w=60'
    assert limiter.policy("authenticated") == '"authenticated";q=1200;w=60'
    assert limiter.policy("login") == '"login";q=20;w=300'


def test_limiter_needs_a_quota_for_every_kind() -> None:
    with pytest.raises(ValueError, match="authenticated, login"):
        RateLimiter.in_memory({"anonymous": "5/hour"})


async def test_unreachable_redis_counts_in_this_process_warns_once_and_rests(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = build_rate_limiter(limit_settings(redis_url="redis://127.0.0.1:1/0"))
    remote = limiter._remote
    assert remote is not None
    attempts = 0
    hit = remote.hit

    async def counted_hit(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await hit(*args, **kwargs)

    monkeypatch.setattr(remote, "hit", counted_hit)
    try:
        async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter)) as client:
            with caplog.at_level(logging.WARNING, logger="lexica.ratelimit"):
                responses = [await client.get("/api/v1/words/apple") for _ in range(6)]
    finally:
        await limiter.close()

    # The quota still holds, counted by this instance alone, rather than no quota at all.
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert responses[0].headers["RateLimit-Policy"] == '"anonymous";q=5;w=3600'
    assert [remaining(r) for r in responses[:5]] == [4, 3, 2, 1, 0]
    warnings = [r for r in caplog.records if r.name == "lexica.ratelimit"]
    assert len(warnings) == 1
    assert "counting in this process instead" in warnings[0].getMessage()
    assert attempts == 1  # then it leaves Redis alone for a while instead of waiting on it every request


async def test_a_redis_client_failing_with_a_non_redis_error_still_counts_in_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """redis-py can leak a transport's TypeError or AttributeError on a connection the peer reset (redis-py#4287):
    the request is still answered, counted here, never a 500."""
    limiter = build_rate_limiter(limit_settings(redis_url="redis://127.0.0.1:1/0"))
    remote = limiter._remote
    assert remote is not None

    async def broken_hit(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("'NoneType' object is not callable")

    monkeypatch.setattr(remote, "hit", broken_hit)
    try:
        async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter)) as client:
            responses = [await client.get("/api/v1/words/apple") for _ in range(6)]
    finally:
        await limiter.close()

    assert [r.status_code for r in responses] == [200] * 5 + [429]


async def test_redis_quota_admits_exactly_the_quota_under_concurrency(redis_url: str, redis_key_prefix: str) -> None:
    settings = limit_settings(redis_url=redis_url, rate_limit_anonymous="50/minute")
    limiter = build_rate_limiter(settings, key_prefix=redis_key_prefix)
    try:
        async with client_of(RateLimitMiddleware(tiny_app(), limiter=limiter)) as client:
            responses = await asyncio.gather(*(client.get("/api/v1/words/apple") for _ in range(200)))
    finally:
        await limiter.close()

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    assert sorted(remaining(r) for r in responses if r.status_code == 200)[-1] <= 49


async def test_instances_sharing_redis_share_one_quota(redis_url: str, redis_key_prefix: str) -> None:
    settings = limit_settings(redis_url=redis_url, rate_limit_anonymous="10/minute")
    first = build_rate_limiter(settings, key_prefix=redis_key_prefix)
    second = build_rate_limiter(settings, key_prefix=redis_key_prefix)
    try:
        app_one = RateLimitMiddleware(tiny_app(), limiter=first)
        app_two = RateLimitMiddleware(tiny_app(), limiter=second)
        async with client_of(app_one) as one, client_of(app_two) as two:
            responses = [await (one if i % 2 == 0 else two).get("/api/v1/words/apple") for i in range(12)]
    finally:
        await first.close()
        await second.close()

    assert [r.status_code for r in responses] == [200] * 10 + [429] * 2
    assert [remaining(r) for r in responses[:10]] == list(range(9, -1, -1))


def test_require_redis_skips_locally_but_fails_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nowhere = "redis://:hunter2@127.0.0.1:1/0"
    monkeypatch.delenv("LEXICA_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis does not answer") as skipped:
        require_redis(nowhere)
    assert "hunter2" not in str(skipped.value)

    monkeypatch.setenv("LEXICA_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="LEXICA_REQUIRE_SERVICES=1 requires it"):
        require_redis(nowhere)


async def test_redis_windows_roll_over_as_the_local_ones_do(redis_url: str, redis_key_prefix: str) -> None:
    """One round trip counts and reads the window; a window that ended lends its weight, then none."""
    settings = limit_settings(redis_url=redis_url, rate_limit_anonymous="4/second")
    redis_limiter = build_rate_limiter(settings, key_prefix=redis_key_prefix)
    local_limiter = build_rate_limiter(limit_settings(rate_limit_anonymous="4/second"))
    client = ClientIdentity("anonymous", "198.51.100.9")
    try:
        for limiter in (redis_limiter, local_limiter):
            first = [await limiter.hit(client) for _ in range(5)]
            assert [d.allowed for d in first] == [True] * 4 + [False]
            assert [d.remaining for d in first[:4]] == [3, 2, 1, 0]
            assert first[4].reset_after >= 1
        await asyncio.sleep(2.1)  # two windows on: nothing of the first one counts any more
        for limiter in (redis_limiter, local_limiter):
            again = [await limiter.hit(client) for _ in range(5)]
            assert [d.allowed for d in again] == [True] * 4 + [False]
    finally:
        await redis_limiter.close()
        await local_limiter.close()


async def test_a_redis_without_the_script_gets_it_once_and_counts_every_hit_once() -> None:
    """A new (or flushed) Redis does not know the script: the hits it refused run again after loading it, and
    none counts twice."""
    with private_redis() as server:
        settings = limit_settings(redis_url=server.url, rate_limit_anonymous="30/minute")
        limiter = build_rate_limiter(settings)
        client = ClientIdentity("anonymous", "198.51.100.10")
        try:
            first = await asyncio.gather(*(limiter.hit(client) for _ in range(10)))
            async with Redis.from_url(server.url) as redis:
                await redis.script_flush()
            second = await asyncio.gather(*(limiter.hit(client) for _ in range(25)))
        finally:
            await limiter.close()
    decisions = [*first, *second]
    assert [d.allowed for d in decisions] == [True] * 30 + [False] * 5
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(30))
