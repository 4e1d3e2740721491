"""Sign-up: accounts, email uniqueness and the password rules."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from lexica.auth import passwords
from tests.auth.conftest import Server
from tests.auth.helpers import (
    STRONG_PASSWORD,
    assert_problem,
    new_email,
    password_grant,
    register,
    sign_in,
)

OWASP_MINIMUM_MEMORY_KIB = 19 * 1024


def argon2_parameters(password_hash: str) -> dict[str, int]:
    """The cost parameters of a PHC-format argon2 hash: {"m": KiB, "t": passes, "p": lanes}."""
    parameters = password_hash.split("$")[3]
    return {name: int(value) for name, value in (part.split("=") for part in parameters.split(","))}


async def test_registration_creates_a_reader_account(api: httpx.AsyncClient) -> None:
    email = new_email()

    response = await register(api, email, display_name="Ada")

    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/users/me"
    user = response.json()
    assert user["email"] == email
    assert user["display_name"] == "Ada"
    assert user["role"] == "reader"
    assert user["mfa_enabled"] is False
    assert "password" not in response.text.lower()


async def test_registration_stores_the_email_in_lower_case(api: httpx.AsyncClient) -> None:
    response = await register(api, "Mixed.Case@Example.COM")

    assert response.json()["email"] == "mixed.case@example.com"


async def test_registering_a_taken_email_in_another_case_is_409_problem(api: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await register(api, email)).status_code == 201

    response = await register(api, email.upper(), "Another-Strong-Pass-93")

    assert_problem(response, 409)


async def test_registered_user_signs_in_with_any_case_of_the_email(api: httpx.AsyncClient) -> None:
    email = new_email()
    await register(api, email)

    session = await sign_in(api, f"  {email.upper()} ")

    assert session.access_token


WEAK_PASSWORDS = {
    "too short": "Tr0ub4dor&3",
    "too long": "Xy7!" * 32 + "z",
    "breached": "Password1234",
    "few distinct characters": "aaaa1111aaaa",
    "repeated pattern": "abcdabcdabcd",
    "keyboard sequence": "wertyuiopqwer",
    "number sequence": "0987654321098",
    "contains email local part": "my-wally-pass-9!",
}


@pytest.mark.parametrize("password", WEAK_PASSWORDS.values(), ids=WEAK_PASSWORDS.keys())
async def test_weak_password_is_422_problem_pointing_at_the_password(api: httpx.AsyncClient, password: str) -> None:
    response = await register(api, "wally@example.com", password)

    body = assert_problem(response, 422)
    assert body["errors"][0]["location"] == ["body", "password"]


async def test_weak_password_creates_no_account(api: httpx.AsyncClient) -> None:
    await register(api, "wally@example.com", "Password1234")

    response = await register(api, "wally@example.com")

    assert response.status_code == 201


async def test_password_of_exactly_128_characters_is_accepted(api: httpx.AsyncClient) -> None:
    password = ("Kestrel-Otter-" * 10)[:120] + "Zq9!Lm2#"
    assert len(password) == 128

    response = await register(api, new_email(), password)

    assert response.status_code == 201


async def test_registration_refuses_unknown_fields(api: httpx.AsyncClient) -> None:
    response = await register(api, new_email(), role="admin")

    assert_problem(response, 422)


async def test_registration_refuses_a_malformed_email(api: httpx.AsyncClient) -> None:
    response = await register(api, "not-an-email")

    body = assert_problem(response, 422)
    assert body["errors"][0]["location"] == ["body", "email"]


@pytest.mark.usefixtures("production_password_hashing")
async def test_password_is_stored_as_an_argon2id_hash(server: Server) -> None:
    api = server.client()
    email = new_email()
    await register(api, email)

    user = await server.storage.users.user_by_email(email)

    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in user.password_hash
    assert argon2_parameters(user.password_hash)["m"] >= OWASP_MINIMUM_MEMORY_KIB


async def test_same_password_gets_a_different_salted_hash_per_account(server: Server) -> None:
    api = server.client()
    first, second = new_email(), new_email()
    await register(api, first)
    await register(api, second)

    one = await server.storage.users.user_by_email(first)
    two = await server.storage.users.user_by_email(second)

    assert one is not None
    assert two is not None
    assert one.password_hash != two.password_hash


async def test_sign_in_upgrades_a_hash_made_with_weaker_parameters(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = server.client()
    email = new_email()
    await register(api, email)  # hashed with the tests' cheap parameters
    monkeypatch.undo()  # the server's own parameters from now on

    signed_in = await password_grant(api, email, STRONG_PASSWORD)

    assert signed_in.status_code == 200
    user = await server.storage.users.user_by_email(email)
    assert user is not None
    assert argon2_parameters(user.password_hash) == argon2_parameters(passwords.hash_password(STRONG_PASSWORD))
    assert (await password_grant(api, email, STRONG_PASSWORD)).status_code == 200


async def test_registration_is_audited(server: Server) -> None:
    await register(server.client(), new_email())

    assert await server.audit_actions() == ["user.registered"]


async def test_concurrent_registrations_of_one_email_create_one_account(api: httpx.AsyncClient) -> None:
    email = new_email()

    responses = await asyncio.gather(*(register(api, email) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


@pytest.mark.usefixtures("production_password_hashing")
async def test_password_hashing_does_not_stall_other_requests(api: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    passwords.hash_password(STRONG_PASSWORD)
    hash_seconds = time.perf_counter() - started
    longest_stall = 0.0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal longest_stall
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            longest_stall = max(longest_stall, time.perf_counter() - before)

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    await register(api, new_email())
    done.set()
    await beating

    assert longest_stall < hash_seconds / 2, f"the event loop stalled {longest_stall * 1000:.0f} ms"
