"""Roles, the admin endpoints (role changes, audit log) and the first admin created from settings."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import Request

from lexica.auth.authenticator import RequestAuthenticator
from lexica.platform.security import Principal
from lexica.storage.sql.auth import SqlUserRepository
from tests.auth.conftest import Server, SettingsFactory, running
from tests.auth.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    STRONG_PASSWORD,
    Session,
    assert_invalid_grant,
    assert_problem,
    assert_unauthorized,
    create_api_key,
    me,
    password_grant,
    register,
    sign_in,
    sign_up,
)

AUDIT_PATH = "/api/v1/admin/audit-events"


def role_path(user_id: str) -> str:
    return f"/api/v1/admin/users/{user_id}/role"


@pytest.fixture
def api(admin_server: Server) -> httpx.AsyncClient:
    return admin_server.client()


@pytest.fixture
async def admin(api: httpx.AsyncClient) -> Session:
    return await sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
async def reader(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


async def set_role(api: httpx.AsyncClient, actor: Session, user_id: str, role: str) -> httpx.Response:
    return await api.put(role_path(user_id), json={"role": role}, headers=actor.headers)


async def audit_page(api: httpx.AsyncClient, actor: Session, **params: Any) -> Any:
    response = await api.get(AUDIT_PATH, params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


# the first admin


async def test_first_admin_is_created_from_settings(admin_server: Server, api: httpx.AsyncClient) -> None:
    admin = await sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)

    assert (await me(api, admin.headers)).json()["role"] == "admin"
    assert (await admin_server.audit_actions())[-2:] == ["admin.bootstrapped", "user.registered"]


async def test_bootstrap_does_nothing_when_an_admin_exists(admin_server: Server, settings_for: SettingsFactory) -> None:
    settings = settings_for(first_admin_email="second-root@lexica.test", first_admin_password="Other-Admin-Pass-77")

    async with running(settings) as restarted:
        api = restarted.client()
        refused = await password_grant(api, "second-root@lexica.test", "Other-Admin-Pass-77")

    assert_invalid_grant(refused)
    assert (await admin_server.audit_actions()).count("admin.bootstrapped") == 1


async def test_restarting_with_the_same_settings_bootstraps_once(
    admin_server: Server, settings_for: SettingsFactory
) -> None:
    async with running(settings_for(first_admin_email=ADMIN_EMAIL, first_admin_password=ADMIN_PASSWORD)):
        pass

    assert (await admin_server.audit_actions()).count("admin.bootstrapped") == 1


async def test_no_admin_is_created_without_settings(server: Server) -> None:
    assert await server.audit_actions() == []
    assert not await server.storage.users.any_admin()


async def test_bootstrap_does_not_promote_an_account_registered_by_someone_else(
    settings_for: SettingsFactory,
) -> None:
    squatter_password = "Squatters-Own-Pass-58"
    async with running(settings_for()) as before:
        assert (await register(before.client(), ADMIN_EMAIL, squatter_password)).status_code == 201

    async with running(settings_for(first_admin_email=ADMIN_EMAIL, first_admin_password=ADMIN_PASSWORD)) as after:
        api = after.client()
        squatter = await sign_in(api, ADMIN_EMAIL, squatter_password)
        role = (await me(api, squatter.headers)).json()["role"]

    assert role != "admin"


# roles


async def test_reader_is_forbidden_the_admin_endpoints(api: httpx.AsyncClient, reader: Session) -> None:
    assert_problem(await set_role(api, reader, reader.user_id, "admin"), 403)
    assert_problem(await api.get(AUDIT_PATH, headers=reader.headers), 403)


async def test_editor_is_forbidden_the_admin_endpoints(api: httpx.AsyncClient, admin: Session, reader: Session) -> None:
    await set_role(api, admin, reader.user_id, "editor")

    assert_problem(await set_role(api, reader, admin.user_id, "reader"), 403)
    assert_problem(await api.get(AUDIT_PATH, headers=reader.headers), 403)


async def test_admin_endpoints_need_credentials(api: httpx.AsyncClient, reader: Session) -> None:
    assert_unauthorized(await api.put(role_path(reader.user_id), json={"role": "admin"}))
    assert_unauthorized(await api.get(AUDIT_PATH))


async def test_admin_changes_a_users_role(api: httpx.AsyncClient, admin: Session, reader: Session) -> None:
    response = await set_role(api, admin, reader.user_id, "editor")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["role"]) == (reader.user_id, "editor")


async def test_new_role_applies_to_tokens_already_issued(
    api: httpx.AsyncClient, admin: Session, reader: Session
) -> None:
    await set_role(api, admin, reader.user_id, "admin")

    assert (await me(api, reader.headers)).json()["role"] == "admin"
    assert (await api.get(AUDIT_PATH, headers=reader.headers)).status_code == 200


async def test_admin_can_demote_another_admin(api: httpx.AsyncClient, admin: Session, reader: Session) -> None:
    await set_role(api, admin, reader.user_id, "admin")

    response = await set_role(api, reader, admin.user_id, "reader")

    assert response.json()["role"] == "reader"
    assert_problem(await api.get(AUDIT_PATH, headers=admin.headers), 403)


async def test_admin_changing_their_own_role_is_409(api: httpx.AsyncClient, admin: Session) -> None:
    assert_problem(await set_role(api, admin, admin.user_id, "reader"), 409)
    assert (await me(api, admin.headers)).json()["role"] == "admin"


async def test_changing_the_role_of_an_unknown_user_is_404(api: httpx.AsyncClient, admin: Session) -> None:
    assert_problem(await set_role(api, admin, str(uuid.uuid4()), "editor"), 404)


async def test_changing_to_an_unknown_role_is_422(api: httpx.AsyncClient, admin: Session, reader: Session) -> None:
    body = assert_problem(await set_role(api, admin, reader.user_id, "owner"), 422)

    assert body["errors"][0]["location"] == ["body", "role"]


async def test_admin_api_key_reaches_the_admin_endpoints(api: httpx.AsyncClient, admin: Session) -> None:
    key = (await create_api_key(api, admin.headers))["key"]

    assert (await api.get(AUDIT_PATH, headers={"X-API-Key": key})).status_code == 200


async def test_role_change_is_audited_with_actor_and_subject(
    api: httpx.AsyncClient, admin: Session, reader: Session
) -> None:
    await set_role(api, admin, reader.user_id, "editor")

    [event] = (await audit_page(api, admin, limit=1))["items"]

    assert (event["action"], event["actor_id"], event["subject_id"], event["detail"]) == (
        "role.changed",
        admin.user_id,
        reader.user_id,
        "role=editor",
    )


# audit log


async def test_audit_log_is_newest_first(api: httpx.AsyncClient, admin: Session, reader: Session) -> None:
    await password_grant(api, reader.email, "Not-The-Right-One-42")

    items = (await audit_page(api, admin, limit=100))["items"]

    ids = [event["id"] for event in items]
    assert ids == sorted(ids, reverse=True)
    assert items[0]["action"] == "login.failed"
    assert items[-1]["action"] == "user.registered"  # the first admin's, at start-up
    assert items[0]["client_ip"] == "127.0.0.1"


async def test_audit_log_pages_with_a_cursor(api: httpx.AsyncClient, admin: Session) -> None:
    for _ in range(3):
        await sign_up(api)
    everything = [event["id"] for event in (await audit_page(api, admin, limit=100))["items"]]

    paged: list[int] = []
    page = await audit_page(api, admin, limit=3)
    while True:
        paged += [event["id"] for event in page["items"]]
        if page["next_cursor"] is None:
            break
        assert page["links"]["next"] == f"{AUDIT_PATH}?limit=3&cursor={page['next_cursor']}"
        page = await audit_page(api, admin, limit=3, cursor=page["next_cursor"])

    assert len(everything) > 6
    assert paged == everything


async def test_audit_log_refuses_an_altered_cursor(api: httpx.AsyncClient, admin: Session) -> None:
    cursor = (await audit_page(api, admin, limit=1))["next_cursor"]

    response = await api.get(AUDIT_PATH, params={"cursor": cursor[:-2] + "xx"}, headers=admin.headers)

    assert_problem(response, 400)


async def test_audit_log_refuses_a_cursor_of_another_listing(api: httpx.AsyncClient, admin: Session) -> None:
    for n in range(2):
        await create_api_key(api, admin.headers, name=f"key {n}")
    keys_page = await api.get("/api/v1/users/me/api-keys", params={"limit": 1}, headers=admin.headers)

    response = await api.get(AUDIT_PATH, params={"cursor": keys_page.json()["next_cursor"]}, headers=admin.headers)

    assert_problem(response, 400)


async def test_password_of_the_first_admin_follows_the_password_rules(settings_for: SettingsFactory) -> None:
    """A weak configured password must not become an admin account."""
    settings = settings_for(first_admin_email=ADMIN_EMAIL, first_admin_password="password1234")

    with pytest.raises(RuntimeError, match=r"LEXICA_FIRST_ADMIN_PASSWORD is not acceptable.*breached"):
        async with running(settings):
            pass


async def test_bootstrapped_admin_cannot_sign_in_with_another_password(api: httpx.AsyncClient) -> None:
    assert_invalid_grant(await password_grant(api, ADMIN_EMAIL, STRONG_PASSWORD))


async def test_instances_starting_together_both_start_and_create_one_admin(
    settings_for: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(settings_for()):
        pass  # the schema exists before the instances start
    settings = settings_for(first_admin_email=ADMIN_EMAIL, first_admin_password=ADMIN_PASSWORD)
    both_checked = asyncio.Barrier(2)
    any_admin = SqlUserRepository.any_admin

    async def any_admin_at_the_same_moment(self: SqlUserRepository) -> bool:
        found = await any_admin(self)
        await both_checked.wait()  # as when two processes start at once
        return found

    monkeypatch.setattr(SqlUserRepository, "any_admin", any_admin_at_the_same_moment)

    async def start() -> None:
        async with running(settings):
            pass

    results = await asyncio.gather(start(), start(), return_exceptions=True)
    async with running(settings_for()) as afterwards:
        actions = await afterwards.audit_actions()

    assert list(results) == [None, None]
    assert actions.count("admin.bootstrapped") == 1


async def test_two_admins_demoting_each_other_at_once_leave_an_admin(
    admin_server: Server, api: httpx.AsyncClient, admin: Session, reader: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    await set_role(api, admin, reader.user_id, "admin")
    both_authenticated = asyncio.Barrier(2)
    authenticate = RequestAuthenticator.authenticate

    async def authenticate_at_the_same_moment(self: RequestAuthenticator, request: Request) -> Principal | None:
        principal = await authenticate(self, request)
        await both_authenticated.wait()  # as when both requests arrive together
        return principal

    monkeypatch.setattr(RequestAuthenticator, "authenticate", authenticate_at_the_same_moment)

    await asyncio.gather(
        set_role(api, admin, reader.user_id, "reader"),
        set_role(api, reader, admin.user_id, "reader"),
    )

    assert await admin_server.storage.users.any_admin()
