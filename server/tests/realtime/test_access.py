"""Later loss of access on an open socket: signed out, account deleted, key revoked, token expired, list made private.

The `live` server re-checks credentials every 0.3 s (LEXICA_WEBSOCKET_REAUTH_SECONDS), so each test is quick.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import jwt
import pytest

from lexica.auth.tokens import AccessTokens
from lexica.platform.events import Event
from tests.conftest import TEST_SECRET
from tests.realtime.conftest import Live, closed_with, receive


async def _subscribed(connection: object, topics: list[str]) -> None:
    await connection.send(json.dumps({"type": "subscribe", "id": "s", "topics": topics}))  # type: ignore[attr-defined]
    reply = await receive(connection)  # type: ignore[arg-type]
    assert reply["type"] == "subscribed", reply


async def test_signing_out_closes_the_socket(live: Live) -> None:
    account = await live.account()
    async with live.connect(account.access_token) as connection:
        await _subscribed(connection, ["entries"])
        signed_out = await live.http.post("/api/v1/auth/logout", json={"refresh_token": account.refresh_token})
        assert signed_out.status_code == 204
        assert await closed_with(connection) == 4401


async def test_deleting_the_account_closes_the_socket(live: Live) -> None:
    account = await live.account()
    key = await live.http.post("/api/v1/users/me/api-keys", json={"name": "socket"}, headers=account.auth)
    async with live.connect(account.access_token) as by_token, live.connect(key.json()["key"]) as by_key:
        deleted = await live.http.delete("/api/v1/users/me", headers=account.auth)
        assert deleted.status_code == 204
        assert await closed_with(by_token) == 4401
        assert await closed_with(by_key) == 4401


async def test_revoking_the_api_key_closes_the_socket(live: Live) -> None:
    account = await live.account()
    created = (await live.http.post("/api/v1/users/me/api-keys", json={"name": "socket"}, headers=account.auth)).json()
    async with live.connect(created["key"]) as connection:
        await _subscribed(connection, ["entries"])
        revoked = await live.http.delete(f"/api/v1/users/me/api-keys/{created['id']}", headers=account.auth)
        assert revoked.status_code == 204
        assert await closed_with(connection) == 4401


async def test_the_socket_closes_when_its_access_token_expires(live: Live) -> None:
    account = await live.account()
    family = jwt.decode(account.access_token, options={"verify_signature": False})["fam"]
    short_lived = AccessTokens(TEST_SECRET, timedelta(seconds=1)).issue(account.user_id, family)
    async with live.connect(short_lived) as connection:
        await connection.send(json.dumps({"type": "ping"}))
        assert (await receive(connection))["type"] == "pong"  # valid until its `exp`
        assert await closed_with(connection) == 4401


async def test_a_list_made_private_stops_reaching_other_subscribers(live: Live) -> None:
    owner, reader = await live.account(), await live.account()
    created = await live.http.post("/api/v1/lists", json={"name": "Shared", "visibility": "public"}, headers=owner.auth)
    list_id = created.json()["id"]
    async with live.connect(reader.access_token) as spy, live.connect(owner.access_token) as own:
        await _subscribed(spy, [f"list:{list_id}", "entries"])
        await _subscribed(own, [f"list:{list_id}"])
        patched = await live.http.patch(
            f"/api/v1/lists/{list_id}",
            content=json.dumps({"visibility": "private"}),
            headers={**owner.auth, "If-Match": created.headers["ETag"], "Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text
        ended = await receive(spy)
        assert (ended["type"], ended["code"], ended["topic"]) == ("error", "access_ended", f"list:{list_id}")
        owned = await receive(own)  # the owner still follows it
        assert (owned["type"], owned["change"]) == ("list.changed", "updated")
        renamed = await live.http.patch(
            f"/api/v1/lists/{list_id}",
            content=json.dumps({"name": "Mine now"}),
            headers={**owner.auth, "If-Match": patched.headers["ETag"], "Content-Type": "application/merge-patch+json"},
        )
        assert renamed.status_code == 200
        assert (await receive(own))["change"] == "updated"
        await spy.send(json.dumps({"type": "ping", "id": "still-here"}))
        assert await receive(spy) == {"type": "pong", "id": "still-here"}  # nothing about the list came before it


async def test_an_event_published_right_after_the_acknowledgement_is_delivered(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Followers start late (their first read is slow, as a Redis round trip can be): the subscription's start
    is fixed before `subscribed` is sent, so an event published as soon as the client has it is not lost."""
    events = live.state.events
    follow = events.follow

    async def late_follow(topic: str, *, after: str | None) -> AsyncIterator[Event]:
        await asyncio.sleep(0.3)
        async for event in follow(topic, after=after):
            yield event

    monkeypatch.setattr(events, "follow", late_follow)
    reader = await live.account()
    async with live.connect(reader.access_token) as connection:
        await _subscribed(connection, ["entries"])
        payload = {
            "type": "entry.changed",
            "topic": "entries",
            "headword": "apple",
            "version": 2,
            "change": "updated",
            "occurred_at": "2026-11-27T12:00:00+00:00",
        }
        await events.publish("entries", "entry.changed", payload)
        delivered = await receive(connection)
    assert (delivered["type"], delivered["headword"]) == ("entry.changed", "apple")
