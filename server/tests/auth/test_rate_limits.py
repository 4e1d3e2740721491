"""Rate limiting in the app: whose quota a request spends (verified user, API key or address) and the 429s."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.auth.conftest import Server, SettingsFactory, running
from tests.auth.helpers import (
    assert_problem,
    bearer,
    create_api_key,
    me,
    new_email,
    password_grant,
    register,
    sign_up,
)

# Hour-long windows: the in-memory counter aligns its windows to the clock; a test must not straddle two.
ANONYMOUS, AUTHENTICATED, LOGIN = 3, 5, 4
RATE_LIMIT = re.compile(r'^"(?P<kind>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


@pytest.fixture
async def limited(settings_for: SettingsFactory) -> AsyncIterator[Server]:
    settings = settings_for(
        rate_limit_enabled=True,
        rate_limit_anonymous=f"{ANONYMOUS}/hour",
        rate_limit_authenticated=f"{AUTHENTICATED}/hour",
        rate_limit_login=f"{LOGIN}/hour",
    )
    async with running(settings) as started:
        yield started


def kind_and_remaining(response: httpx.Response) -> tuple[str, int]:
    match = RATE_LIMIT.match(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return match["kind"], int(match["r"])


def assert_rate_limited(response: httpx.Response, kind: str) -> None:
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert kind_and_remaining(response) == (kind, 0)
    assert response.headers["RateLimit-Policy"].startswith(f'"{kind}";')


async def test_authenticated_response_carries_the_authenticated_policy(limited: Server) -> None:
    api = limited.client()
    session = await sign_up(api)

    response = await me(api, session.headers)

    assert response.headers["RateLimit-Policy"] == f'"authenticated";q={AUTHENTICATED};w=3600'
    assert kind_and_remaining(response) == ("authenticated", AUTHENTICATED - 1)


async def test_anonymous_client_over_quota_gets_429_with_retry_after_and_rate_limit_headers(limited: Server) -> None:
    api = limited.client()
    for _ in range(ANONYMOUS):
        assert (await api.get("/api/v1/users/me")).status_code == 401

    assert_rate_limited(await api.get("/api/v1/users/me"), "anonymous")


async def test_signed_in_user_does_not_spend_the_address_anonymous_quota(limited: Server) -> None:
    api = limited.client()
    session = await sign_up(api)
    for _ in range(ANONYMOUS):
        await api.get("/api/v1/users/me")
    assert_rate_limited(await api.get("/api/v1/users/me"), "anonymous")

    response = await me(api, session.headers)

    assert response.status_code == 200
    assert kind_and_remaining(response) == ("authenticated", AUTHENTICATED - 1)


async def test_each_user_has_a_quota_of_their_own(limited: Server) -> None:
    first, second = limited.client("192.0.2.1"), limited.client("192.0.2.2")
    alice, bob = await sign_up(first), await sign_up(second)
    for _ in range(AUTHENTICATED):
        assert (await me(first, alice.headers)).status_code == 200

    assert_rate_limited(await me(first, alice.headers), "authenticated")
    assert (await me(first, bob.headers)).status_code == 200


async def test_user_quota_follows_the_user_across_addresses(limited: Server) -> None:
    home, cafe = limited.client("192.0.2.1"), limited.client("192.0.2.2")
    session = await sign_up(home)
    for _ in range(AUTHENTICATED):
        await me(home, session.headers)

    assert_rate_limited(await me(cafe, session.headers), "authenticated")


async def test_api_keys_share_their_users_quota(limited: Server) -> None:
    """Creating more keys does not multiply a user's quota."""
    api = limited.client()
    session = await sign_up(api)
    key = (await create_api_key(api, session.headers))["key"]
    for _ in range(AUTHENTICATED - 1):
        await me(api, session.headers)
    assert_rate_limited(await me(api, session.headers), "authenticated")

    for headers in ({"X-API-Key": key}, bearer(key)):
        assert_rate_limited(await me(api, headers), "authenticated")


async def test_invalid_credentials_spend_the_address_anonymous_quota(limited: Server) -> None:
    api = limited.client()
    for _ in range(ANONYMOUS):
        assert (await me(api, bearer("not-a-token"))).status_code == 401

    assert_rate_limited(await me(api, {"X-API-Key": "lx_0123abcd_forged"}), "anonymous")


async def test_sign_in_and_registration_spend_the_login_quota(limited: Server) -> None:
    api = limited.client()
    email = new_email()
    await register(api, email)
    for _ in range(LOGIN - 1):
        await password_grant(api, email, "Not-The-Right-One-42")

    assert_rate_limited(await password_grant(api, email, "Not-The-Right-One-42"), "login")
    assert_rate_limited(await register(api, new_email()), "login")


async def test_login_quota_is_apart_from_the_anonymous_quota(limited: Server) -> None:
    api = limited.client()
    for _ in range(LOGIN):
        await password_grant(api, "someone@example.com", "Not-The-Right-One-42")

    response = await api.get("/api/v1/users/me")

    assert response.status_code == 401
    assert kind_and_remaining(response) == ("anonymous", ANONYMOUS - 1)


async def test_login_quota_is_per_address(limited: Server) -> None:
    spent = limited.client("192.0.2.1")
    for _ in range(LOGIN):
        await password_grant(spent, "someone@example.com", "Not-The-Right-One-42")

    assert (await register(limited.client("192.0.2.2"), new_email())).status_code == 201


async def test_concurrent_requests_never_exceed_the_quota(settings_for: SettingsFactory) -> None:
    settings = settings_for(rate_limit_enabled=True, rate_limit_authenticated="10/hour", rate_limit_anonymous="10/hour")
    async with running(settings) as server:
        api = server.client()
        session = await sign_up(api)

        authenticated = await asyncio.gather(*(me(api, session.headers) for _ in range(50)))
        anonymous = await asyncio.gather(*(api.get("/api/v1/users/me") for _ in range(50)))

    assert Counter(r.status_code for r in authenticated) == {200: 10, 429: 40}
    assert Counter(r.status_code for r in anonymous) == {401: 10, 429: 40}
