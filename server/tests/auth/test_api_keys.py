"""Personal API keys: created and shown once, listed without the secret, accepted in two headers, revoked."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from lexica.auth.repository import ApiKeyRecord
from lexica.auth.tokens import digest, new_api_key
from tests.auth.conftest import Server
from tests.auth.helpers import (
    Session,
    assert_problem,
    assert_unauthorized,
    bearer,
    create_api_key,
    me,
    sign_up,
)

KEYS_PATH = "/api/v1/users/me/api-keys"
KEY_FORMAT = re.compile(r"^lx_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}$")


@pytest.fixture
async def session(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


@pytest.fixture
async def other(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


def key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def list_keys(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await api.get(KEYS_PATH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_created_key_is_shown_once_in_the_documented_format(api: httpx.AsyncClient, session: Session) -> None:
    response = await api.post(KEYS_PATH, json={"name": "laptop"}, headers=session.headers)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    assert KEY_FORMAT.match(created["key"]), created["key"]
    assert created["key"].startswith(created["prefix"] + "_")
    assert (created["name"], created["expires_at"], created["last_used_at"]) == ("laptop", None, None)


async def test_listing_never_shows_the_key(api: httpx.AsyncClient, session: Session) -> None:
    created = await create_api_key(api, session.headers)

    response = await api.get(KEYS_PATH, headers=session.headers)

    assert response.headers["Cache-Control"] == "private, no-store"
    [listed] = response.json()["items"]
    assert "key" not in listed
    assert listed["id"] == created["id"]
    assert listed["prefix"] == created["prefix"]
    assert created["key"].split("_", 2)[2] not in response.text


async def test_listing_is_newest_first_in_cursor_pages(api: httpx.AsyncClient, session: Session) -> None:
    ids = [(await create_api_key(api, session.headers, name=f"key {n}"))["id"] for n in range(3)]

    first = await list_keys(api, session.headers, limit=2)
    second = await list_keys(api, session.headers, limit=2, cursor=first["next_cursor"])

    assert [k["id"] for k in first["items"] + second["items"]] == ids[::-1]
    assert first["links"]["next"] == f"{KEYS_PATH}?limit=2&cursor={first['next_cursor']}"
    assert second["next_cursor"] is None


async def test_key_authenticates_in_the_x_api_key_header(api: httpx.AsyncClient, session: Session) -> None:
    key = (await create_api_key(api, session.headers))["key"]

    response = await me(api, key_header(key))

    assert response.status_code == 200
    assert response.json()["id"] == session.user_id


async def test_key_authenticates_as_a_bearer_token(api: httpx.AsyncClient, session: Session) -> None:
    key = (await create_api_key(api, session.headers))["key"]

    response = await me(api, bearer(key))

    assert response.status_code == 200
    assert response.json()["id"] == session.user_id


async def test_key_with_a_wrong_secret_is_401(api: httpx.AsyncClient, session: Session) -> None:
    key = (await create_api_key(api, session.headers))["key"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")

    assert_unauthorized(await me(api, key_header(forged)))
    assert_unauthorized(await me(api, bearer(forged)))


async def test_malformed_key_is_401(api: httpx.AsyncClient) -> None:
    for key in ("", "lx_", "lx_0123abcd", "nonsense", "lx_0123abcd_"):
        assert_unauthorized(await me(api, key_header(key)))


async def test_invalid_x_api_key_is_401_even_with_a_valid_bearer_token(
    api: httpx.AsyncClient, session: Session
) -> None:
    assert_unauthorized(await me(api, {**session.headers, "X-API-Key": "lx_0123abcd_not-a-real-key"}))


async def test_use_of_a_key_is_recorded_as_last_used(api: httpx.AsyncClient, session: Session) -> None:
    key = (await create_api_key(api, session.headers))["key"]

    await me(api, key_header(key))

    [listed] = (await list_keys(api, session.headers))["items"]
    assert listed["last_used_at"] is not None


async def test_revoked_key_stops_working(api: httpx.AsyncClient, session: Session) -> None:
    created = await create_api_key(api, session.headers)
    assert (await me(api, key_header(created["key"]))).status_code == 200

    response = await api.delete(f"{KEYS_PATH}/{created['id']}", headers=session.headers)

    assert response.status_code == 204
    assert_unauthorized(await me(api, key_header(created["key"])))
    assert_unauthorized(await me(api, bearer(created["key"])))
    assert (await list_keys(api, session.headers))["items"] == []


async def test_revoking_a_key_twice_is_404(api: httpx.AsyncClient, session: Session) -> None:
    created = await create_api_key(api, session.headers)
    await api.delete(f"{KEYS_PATH}/{created['id']}", headers=session.headers)

    assert_problem(await api.delete(f"{KEYS_PATH}/{created['id']}", headers=session.headers), 404)


async def test_revoking_an_unknown_key_is_404(api: httpx.AsyncClient, session: Session) -> None:
    assert_problem(await api.delete(f"{KEYS_PATH}/{uuid.uuid4()}", headers=session.headers), 404)


async def test_revoking_another_users_key_is_404_and_leaves_it_working(
    api: httpx.AsyncClient, session: Session, other: Session
) -> None:
    theirs = await create_api_key(api, other.headers)

    response = await api.delete(f"{KEYS_PATH}/{theirs['id']}", headers=session.headers)

    assert_problem(response, 404)
    assert (await me(api, key_header(theirs["key"]))).status_code == 200


async def test_listing_shows_only_the_users_own_keys(api: httpx.AsyncClient, session: Session, other: Session) -> None:
    mine = await create_api_key(api, session.headers)
    await create_api_key(api, other.headers)

    assert [k["id"] for k in (await list_keys(api, session.headers))["items"]] == [mine["id"]]


async def test_listing_cursor_of_another_user_is_400(api: httpx.AsyncClient, session: Session, other: Session) -> None:
    for n in range(2):
        await create_api_key(api, other.headers, name=f"key {n}")
    their_cursor = (await list_keys(api, other.headers, limit=1))["next_cursor"]

    response = await api.get(KEYS_PATH, params={"limit": 1, "cursor": their_cursor}, headers=session.headers)

    assert_problem(response, 400)


async def test_key_with_a_future_expiry_works(api: httpx.AsyncClient, session: Session) -> None:
    expires_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    created = await create_api_key(api, session.headers, expires_at=expires_at)

    assert datetime.fromisoformat(created["expires_at"]) == datetime.fromisoformat(expires_at)
    assert (await me(api, key_header(created["key"]))).status_code == 200


async def test_expired_key_is_401(server: Server, api: httpx.AsyncClient, session: Session) -> None:
    key, prefix = new_api_key()
    now = datetime.now(UTC)
    await server.storage.api_keys.add_api_key(
        ApiKeyRecord(
            id=str(uuid.uuid4()),
            user_id=session.user_id,
            name="expired",
            prefix=prefix,
            key_hash=digest(key),
            created_at=now - timedelta(days=2),
            last_used_at=None,
            expires_at=now - timedelta(seconds=1),
        )
    )

    body = assert_unauthorized(await me(api, key_header(key)))
    assert "expired" in body["detail"]


async def test_creating_a_key_that_expires_in_the_past_is_422(api: httpx.AsyncClient, session: Session) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    response = await api.post(KEYS_PATH, json={"name": "old", "expires_at": past}, headers=session.headers)

    body = assert_problem(response, 422)
    assert body["errors"][0]["location"] == ["body", "expires_at"]


async def test_creating_a_key_needs_credentials(api: httpx.AsyncClient) -> None:
    assert_unauthorized(await api.post(KEYS_PATH, json={"name": "anonymous"}))


async def test_key_creation_and_revocation_are_audited(
    server: Server, api: httpx.AsyncClient, session: Session
) -> None:
    created = await create_api_key(api, session.headers)
    await api.delete(f"{KEYS_PATH}/{created['id']}", headers=session.headers)

    events = await server.storage.audit.events(before=None, limit=2)

    assert [(e.action, e.detail) for e in events] == [
        ("api_key.revoked", created["id"]),
        ("api_key.created", created["prefix"]),
    ]


async def test_an_account_holds_at_most_fifty_keys_until_one_is_revoked(
    api: httpx.AsyncClient, session: Session
) -> None:
    created = [await api.post(KEYS_PATH, json={"name": f"key {n}"}, headers=session.headers) for n in range(50)]
    assert {response.status_code for response in created} == {201}

    refused = await api.post(KEYS_PATH, json={"name": "one too many"}, headers=session.headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/api-key-limit-reached"

    revoked = await api.delete(f"{KEYS_PATH}/{created[0].json()['id']}", headers=session.headers)
    assert revoked.status_code == 204
    assert (await api.post(KEYS_PATH, json={"name": "now it fits"}, headers=session.headers)).status_code == 201
