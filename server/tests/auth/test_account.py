"""The signed-in user's account: profile, data export and deletion."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import Server
from tests.auth.helpers import (
    STRONG_PASSWORD,
    Session,
    assert_invalid_grant,
    assert_problem,
    assert_unauthorized,
    create_api_key,
    me,
    password_grant,
    refresh_grant,
    register,
    sign_up,
)

EXPORT_PATH = "/api/v1/users/me/export"


@pytest.fixture
async def session(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


@pytest.fixture
async def other(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


async def test_me_returns_the_signed_in_user_privately(api: httpx.AsyncClient, session: Session) -> None:
    response = await me(api, session.headers)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    user = response.json()
    assert (user["id"], user["email"], user["role"], user["mfa_enabled"]) == (
        session.user_id,
        session.email,
        "reader",
        False,
    )
    assert set(user) == {"id", "email", "display_name", "role", "mfa_enabled", "created_at"}


async def test_export_holds_the_user_their_keys_and_events_about_them(api: httpx.AsyncClient, session: Session) -> None:
    key = await create_api_key(api, session.headers)

    response = await api.get(EXPORT_PATH, headers=session.headers)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    export = response.json()
    assert export["user"]["id"] == session.user_id
    assert [k["id"] for k in export["api_keys"]] == [key["id"]]
    assert "key" not in export["api_keys"][0]
    assert {e["action"] for e in export["audit_events"]} >= {"user.registered", "login.succeeded", "api_key.created"}


async def test_export_holds_nothing_of_other_users(api: httpx.AsyncClient, session: Session, other: Session) -> None:
    await create_api_key(api, session.headers)
    theirs = await create_api_key(api, other.headers)
    await password_grant(api, other.email, "Not-The-Right-One-42")

    export = (await api.get(EXPORT_PATH, headers=session.headers)).json()

    assert theirs["id"] not in {k["id"] for k in export["api_keys"]}
    assert all(session.user_id in (e["actor_id"], e["subject_id"]) for e in export["audit_events"])
    assert other.user_id not in str(export)
    assert other.email not in str(export)


async def test_deleting_the_account_is_204_and_revokes_every_credential(
    api: httpx.AsyncClient, session: Session
) -> None:
    key = (await create_api_key(api, session.headers))["key"]

    response = await api.delete("/api/v1/users/me", headers=session.headers)

    assert response.status_code == 204
    assert_unauthorized(await me(api, session.headers))
    assert_unauthorized(await me(api, {"X-API-Key": key}))
    assert_invalid_grant(await refresh_grant(api, session.refresh_token))
    assert_invalid_grant(await password_grant(api, session.email, STRONG_PASSWORD))


async def test_account_can_be_deleted_with_an_api_key(api: httpx.AsyncClient, session: Session) -> None:
    key = (await create_api_key(api, session.headers))["key"]

    assert (await api.delete("/api/v1/users/me", headers={"X-API-Key": key})).status_code == 204
    assert_unauthorized(await me(api, session.headers))


async def test_deleting_an_account_leaves_other_accounts_alone(
    api: httpx.AsyncClient, session: Session, other: Session
) -> None:
    await api.delete("/api/v1/users/me", headers=session.headers)

    assert (await me(api, other.headers)).status_code == 200


async def test_deleted_account_is_erased_from_storage(server: Server, api: httpx.AsyncClient, session: Session) -> None:
    await create_api_key(api, session.headers)

    await api.delete("/api/v1/users/me", headers=session.headers)

    assert await server.storage.users.user_by_id(session.user_id) is None
    assert await server.storage.api_keys.all_api_keys_of(session.user_id) == []
    events = await server.storage.audit.events(before=None, limit=1)
    assert (events[0].action, events[0].subject_id) == ("user.deleted", session.user_id)


async def test_email_of_a_deleted_account_can_register_again(api: httpx.AsyncClient, session: Session) -> None:
    await api.delete("/api/v1/users/me", headers=session.headers)

    response = await register(api, session.email)

    assert response.status_code == 201
    assert response.json()["id"] != session.user_id


async def test_audit_log_keeps_no_email_of_a_deleted_account(
    server: Server, api: httpx.AsyncClient, session: Session
) -> None:
    for _ in range(6):
        await password_grant(api, session.email, "Not-The-Right-One-42")
    assert_problem(await password_grant(api, session.email, "Not-The-Right-One-42"), 429)

    await api.delete("/api/v1/users/me", headers=session.headers)

    events = await server.storage.audit.events(before=None, limit=1000)
    assert [e for e in events if session.email in (e.detail or "")] == []
