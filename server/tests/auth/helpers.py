"""Requests and assertions shared by the identity tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pyotp

from lexica.auth.totp import STEP_SECONDS

STRONG_PASSWORD = "Quiet-Lantern-47-Orchard"
OTHER_PASSWORD = "Copper-Willow-62-Brigade"
ADMIN_EMAIL = "root@lexica.test"
ADMIN_PASSWORD = "Granite-Meadow-81-Falcon"
PROBLEM_JSON = "application/problem+json"


def new_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return body


def assert_invalid_grant(response: httpx.Response, error: str = "invalid_grant") -> dict[str, Any]:
    body = assert_problem(response, 400)
    assert body["error"] == error
    return body


async def register(
    client: httpx.AsyncClient, email: str, password: str = STRONG_PASSWORD, **extra: Any
) -> httpx.Response:
    return await client.post("/api/v1/auth/register", json={"email": email, "password": password, **extra})


async def password_grant(
    client: httpx.AsyncClient, username: str, password: str, otp: str | None = None
) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    if otp is not None:
        form["otp"] = otp
    return await client.post("/api/v1/auth/token", data=form)


async def refresh_grant(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


async def logout(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/logout", json={"refresh_token": refresh_token})


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get("/api/v1/users/me", headers=headers)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user: who they are and the token pair of one login."""

    user_id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def session_from(response: httpx.Response, email: str, password: str) -> Session:
    assert response.status_code == 200, response.text
    body = response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    return Session(
        user_id=claims["sub"],
        email=email,
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = STRONG_PASSWORD, otp: str | None = None
) -> Session:
    return session_from(await password_grant(client, email, password, otp), email, password)


async def sign_up(client: httpx.AsyncClient, email: str | None = None, password: str = STRONG_PASSWORD) -> Session:
    email = email or new_email()
    created = await register(client, email, password)
    assert created.status_code == 201, created.text
    return await sign_in(client, email, password)


async def create_api_key(client: httpx.AsyncClient, headers: dict[str, str], name: str = "ci", **extra: Any) -> Any:
    response = await client.post("/api/v1/users/me/api-keys", json={"name": name, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


class TotpClock:
    """Stands in for the `time` module of `lexica.auth.totp`, so tests choose the TOTP time step."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance_steps(self, steps: int = 1) -> None:
        self.now += steps * STEP_SECONDS

    def code(self, secret: str, steps: int = 0) -> str:
        """The code of the current time step, or of one `steps` away."""
        return pyotp.TOTP(secret).at(self.now + steps * STEP_SECONDS)


@dataclass(frozen=True, slots=True)
class Mfa:
    secret: str
    recovery_codes: list[str]


async def enable_mfa(client: httpx.AsyncClient, session: Session, clock: TotpClock) -> Mfa:
    """Enrols and confirms TOTP, then moves the clock on a step (the confirming code is spent)."""
    enrolled = await client.post("/api/v1/users/me/mfa/totp", headers=session.headers)
    assert enrolled.status_code == 201, enrolled.text
    secret = enrolled.json()["secret"]
    confirmed = await client.post(
        "/api/v1/users/me/mfa/totp/confirm", json={"code": clock.code(secret)}, headers=session.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance_steps()
    return Mfa(secret=secret, recovery_codes=confirmed.json()["recovery_codes"])
