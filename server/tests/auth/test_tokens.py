"""Sign-in with the OAuth 2.0 password grant, refresh-token rotation and reuse detection, sign-out, JWT checks."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from lexica.auth.tokens import AUDIENCE, ISSUER, AccessTokens, derive_key, digest, new_refresh_token
from tests.auth.conftest import Server
from tests.auth.helpers import (
    STRONG_PASSWORD,
    Session,
    assert_invalid_grant,
    assert_problem,
    assert_unauthorized,
    bearer,
    logout,
    me,
    new_email,
    password_grant,
    refresh_grant,
    register,
    session_from,
    sign_up,
)
from tests.conftest import TEST_SECRET

JWT_KEY = derive_key(TEST_SECRET, "jwt")


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def forge(session: Session, key: bytes | str = JWT_KEY, algorithm: str = "HS256", **changes: Any) -> str:
    """An access token like the session's, with claims changed (None removes one), signed with `key`."""
    now = datetime.now(UTC)
    claims = {**claims_of(session.access_token), "iat": now, "nbf": now, "exp": now + timedelta(minutes=5)}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, key, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def flip_char(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.fixture
async def session(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


# password grant


async def test_password_grant_returns_a_bearer_token_pair_not_to_be_cached(api: httpx.AsyncClient) -> None:
    email = new_email()
    await register(api, email)

    response = await password_grant(api, email, STRONG_PASSWORD)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] != body["access_token"]
    claims = jwt.decode(body["access_token"], JWT_KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["exp"] - claims["iat"] == 900


async def test_access_token_authenticates_the_user(api: httpx.AsyncClient, session: Session) -> None:
    response = await me(api, session.headers)

    assert response.status_code == 200
    assert response.json()["id"] == session.user_id


async def test_wrong_password_is_400_invalid_grant(api: httpx.AsyncClient, session: Session) -> None:
    response = await password_grant(api, session.email, "Not-The-Right-One-42")

    body = assert_invalid_grant(response)
    assert "mfa_required" not in body


async def test_unknown_email_is_answered_like_a_wrong_password(api: httpx.AsyncClient, session: Session) -> None:
    wrong_password = await password_grant(api, session.email, "Not-The-Right-One-42")
    unknown_email = await password_grant(api, new_email("nobody"), "Not-The-Right-One-42")

    def without_request_id(body: dict[str, object]) -> dict[str, object]:
        return {name: value for name, value in body.items() if name != "request_id"}

    assert without_request_id(assert_invalid_grant(unknown_email)) == without_request_id(
        assert_invalid_grant(wrong_password)
    )


@pytest.mark.parametrize("missing", ["username", "password"])
async def test_password_grant_without_credentials_is_400_invalid_request(api: httpx.AsyncClient, missing: str) -> None:
    form = {"grant_type": "password", "username": "someone@example.com", "password": STRONG_PASSWORD}
    del form[missing]

    response = await api.post("/api/v1/auth/token", data=form)

    assert_invalid_grant(response, "invalid_request")


async def test_token_request_without_grant_type_is_400_invalid_request(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/auth/token", data={"username": "someone@example.com", "password": "x"})

    assert_invalid_grant(response, "invalid_request")


async def test_unknown_grant_type_is_400_unsupported_grant_type(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/auth/token", data={"grant_type": "client_credentials"})

    assert_invalid_grant(response, "unsupported_grant_type")


async def test_token_request_sent_as_json_is_415_problem(api: httpx.AsyncClient, session: Session) -> None:
    response = await api.post(
        "/api/v1/auth/token",
        json={"grant_type": "password", "username": session.email, "password": STRONG_PASSWORD},
    )

    assert_problem(response, 415)


async def test_sign_ins_are_audited_as_succeeded_and_failed(server: Server) -> None:
    api = server.client()
    session = await sign_up(api)
    await password_grant(api, session.email, "Not-The-Right-One-42")

    assert (await server.audit_actions())[:2] == ["login.failed", "login.succeeded"]


# refresh-token rotation


async def test_refresh_grant_returns_a_new_pair(api: httpx.AsyncClient, session: Session) -> None:
    response = await refresh_grant(api, session.refresh_token)

    renewed = session_from(response, session.email, session.password)
    assert response.headers["Cache-Control"] == "no-store"
    assert renewed.refresh_token != session.refresh_token
    assert renewed.access_token != session.access_token
    assert (await me(api, renewed.headers)).status_code == 200


async def test_refresh_token_works_once(api: httpx.AsyncClient, session: Session) -> None:
    await refresh_grant(api, session.refresh_token)

    response = await refresh_grant(api, session.refresh_token)

    assert_invalid_grant(response)


async def test_each_rotated_refresh_token_works_once_in_turn(api: httpx.AsyncClient, session: Session) -> None:
    current = session
    for _ in range(3):
        current = session_from(await refresh_grant(api, current.refresh_token), session.email, session.password)

    assert (await me(api, current.headers)).status_code == 200


async def test_reused_refresh_token_revokes_its_whole_family(api: httpx.AsyncClient, session: Session) -> None:
    renewed = session_from(await refresh_grant(api, session.refresh_token), session.email, session.password)

    assert_invalid_grant(await refresh_grant(api, session.refresh_token))

    assert_invalid_grant(await refresh_grant(api, renewed.refresh_token))
    assert_unauthorized(await me(api, renewed.headers))
    assert_unauthorized(await me(api, session.headers))


async def test_refresh_token_reuse_is_audited(server: Server) -> None:
    api = server.client()
    session = await sign_up(api)
    await refresh_grant(api, session.refresh_token)

    await refresh_grant(api, session.refresh_token)

    events = await server.storage.audit.events(before=None, limit=1)
    assert events[0].action == "token.reuse_detected"
    assert events[0].subject_id == session.user_id


async def test_refresh_token_reuse_leaves_other_sign_ins_alone(api: httpx.AsyncClient, session: Session) -> None:
    other_device = session_from(
        await password_grant(api, session.email, STRONG_PASSWORD), session.email, session.password
    )
    await refresh_grant(api, session.refresh_token)

    await refresh_grant(api, session.refresh_token)

    assert (await me(api, other_device.headers)).status_code == 200
    assert (await refresh_grant(api, other_device.refresh_token)).status_code == 200


async def test_concurrent_use_of_one_refresh_token_issues_one_pair(api: httpx.AsyncClient, session: Session) -> None:
    responses = await asyncio.gather(*(refresh_grant(api, session.refresh_token) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400]


async def test_refresh_grant_without_refresh_token_is_400_invalid_request(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/auth/token", data={"grant_type": "refresh_token"})

    assert_invalid_grant(response, "invalid_request")


async def test_unknown_refresh_token_is_400_invalid_grant(api: httpx.AsyncClient) -> None:
    assert_invalid_grant(await refresh_grant(api, new_refresh_token()))


async def test_expired_refresh_token_is_400_invalid_grant(server: Server) -> None:
    api = server.client()
    session = await sign_up(api)
    expired = new_refresh_token()
    await server.storage.tokens.add_refresh_token(
        digest(expired), claims_of(session.access_token)["fam"], session.user_id, datetime.now(UTC) - timedelta(1)
    )

    assert_invalid_grant(await refresh_grant(api, expired))


async def test_access_token_is_not_a_refresh_token(api: httpx.AsyncClient, session: Session) -> None:
    assert_invalid_grant(await refresh_grant(api, session.access_token))


# sign-out


async def test_logout_revokes_the_refresh_token_and_the_family_access_tokens(
    api: httpx.AsyncClient, session: Session
) -> None:
    response = await logout(api, session.refresh_token)

    assert response.status_code == 204
    assert_invalid_grant(await refresh_grant(api, session.refresh_token))
    assert_unauthorized(await me(api, session.headers))


async def test_logout_with_a_rotated_out_refresh_token_revokes_the_family(
    api: httpx.AsyncClient, session: Session
) -> None:
    renewed = session_from(await refresh_grant(api, session.refresh_token), session.email, session.password)

    assert (await logout(api, session.refresh_token)).status_code == 204

    assert_invalid_grant(await refresh_grant(api, renewed.refresh_token))
    assert_unauthorized(await me(api, renewed.headers))


async def test_logout_twice_is_204_both_times(api: httpx.AsyncClient, session: Session) -> None:
    first = await logout(api, session.refresh_token)
    second = await logout(api, session.refresh_token)

    assert (first.status_code, second.status_code) == (204, 204)


async def test_logout_with_an_unknown_refresh_token_is_204(api: httpx.AsyncClient) -> None:
    assert (await logout(api, new_refresh_token())).status_code == 204


async def test_logout_leaves_other_sign_ins_alone(api: httpx.AsyncClient, session: Session) -> None:
    other_device = session_from(
        await password_grant(api, session.email, STRONG_PASSWORD), session.email, session.password
    )

    await logout(api, session.refresh_token)

    assert (await me(api, other_device.headers)).status_code == 200


async def test_logout_is_audited_once(server: Server) -> None:
    api = server.client()
    session = await sign_up(api)

    await logout(api, session.refresh_token)
    await logout(api, session.refresh_token)

    assert (await server.audit_actions()).count("logout") == 1


# access tokens that must not authenticate


async def test_request_without_credentials_is_401_with_www_authenticate(api: httpx.AsyncClient) -> None:
    assert_unauthorized(await api.get("/api/v1/users/me"))


async def test_authorization_scheme_other_than_bearer_is_401(api: httpx.AsyncClient, session: Session) -> None:
    assert_unauthorized(await me(api, {"Authorization": f"Basic {session.access_token}"}))


async def test_expired_access_token_is_401(api: httpx.AsyncClient, session: Session) -> None:
    issued_at = datetime.now(UTC) - timedelta(minutes=20)
    expired = AccessTokens(TEST_SECRET, timedelta(minutes=15)).issue(
        session.user_id, claims_of(session.access_token)["fam"], now=issued_at
    )

    assert_unauthorized(await me(api, bearer(expired)))


async def test_access_token_not_yet_valid_is_401(api: httpx.AsyncClient, session: Session) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)

    token = forge(session, iat=later, nbf=later, exp=later + timedelta(minutes=15))

    assert_unauthorized(await me(api, bearer(token)))


async def test_forged_token_with_the_right_key_authenticates(api: httpx.AsyncClient, session: Session) -> None:
    """The control for the forgeries below: only the changed part makes them fail."""
    assert (await me(api, bearer(forge(session)))).status_code == 200


async def test_access_token_with_a_tampered_signature_is_401(api: httpx.AsyncClient, session: Session) -> None:
    token = flip_char(session.access_token, len(session.access_token) - 5)

    assert_unauthorized(await me(api, bearer(token)))


async def test_access_token_with_a_tampered_payload_is_401(api: httpx.AsyncClient, session: Session) -> None:
    header, payload, signature = session.access_token.split(".")
    other_user = {**claims_of(session.access_token), "sub": "00000000-0000-4000-8000-000000000000"}

    assert_unauthorized(await me(api, bearer(f"{header}.{b64(other_user)}.{signature}")))
    assert_unauthorized(await me(api, bearer(f"{header}.{flip_char(payload, 10)}.{signature}")))


async def test_unsigned_alg_none_token_is_401(api: httpx.AsyncClient, session: Session) -> None:
    claims = claims_of(session.access_token)

    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        assert_unauthorized(await me(api, bearer(token)))


async def test_token_whose_header_says_rs256_is_401(api: httpx.AsyncClient, session: Session) -> None:
    _, payload, signature = session.access_token.split(".")
    rs256_header = b64({"alg": "RS256", "typ": "JWT"})

    assert_unauthorized(await me(api, bearer(f"{rs256_header}.{payload}.{signature}")))


async def test_token_signed_with_another_key_is_401(api: httpx.AsyncClient, session: Session) -> None:
    assert_unauthorized(await me(api, bearer(forge(session, key=b"another-key-of-thirty-two-bytes!!"))))
    assert_unauthorized(await me(api, bearer(forge(session, key=TEST_SECRET))))  # the secret itself, not derived


async def test_token_signed_with_another_hmac_algorithm_is_401(api: httpx.AsyncClient, session: Session) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the server's 32-byte key, used with HS512
        token = forge(session, algorithm="HS512")

    assert_unauthorized(await me(api, bearer(token)))


@pytest.mark.parametrize(
    "changes",
    [{"aud": "another-api"}, {"iss": "someone-else"}, {"aud": None}, {"iss": None}],
    ids=["wrong audience", "wrong issuer", "no audience", "no issuer"],
)
async def test_token_for_another_audience_or_issuer_is_401(
    api: httpx.AsyncClient, session: Session, changes: dict[str, Any]
) -> None:
    assert_unauthorized(await me(api, bearer(forge(session, **changes))))


@pytest.mark.parametrize(
    "changes",
    [{"typ": "refresh"}, {"typ": None}, {"fam": None}, {"exp": None}, {"jti": None}, {"sub": None}],
    ids=["refresh type", "no type", "no family", "no expiry", "no id", "no subject"],
)
async def test_token_that_is_not_a_complete_access_token_is_401(
    api: httpx.AsyncClient, session: Session, changes: dict[str, Any]
) -> None:
    assert_unauthorized(await me(api, bearer(forge(session, **changes))))


async def test_token_for_an_unknown_user_is_401(api: httpx.AsyncClient, session: Session) -> None:
    token = forge(session, sub="00000000-0000-4000-8000-000000000000")

    assert_unauthorized(await me(api, bearer(token)))


async def test_refresh_token_is_not_an_access_token(api: httpx.AsyncClient, session: Session) -> None:
    assert_unauthorized(await me(api, bearer(session.refresh_token)))


async def test_garbage_bearer_token_is_401(api: httpx.AsyncClient) -> None:
    for token in ("x", "a.b.c", "lx_", "lx_zz_zz"):
        assert_unauthorized(await me(api, bearer(token)))
