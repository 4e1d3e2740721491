"""The AsyncAPI channels against uvicorn on loopback: a real WebSocket and a real SSE connection.

Every message the server sends here is validated against asyncapi/lexica.yaml; every malformed client message gets
a declared `error` message and the socket stays usable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import websockets
from asyncapi_contract import validate_ws_message
from conftest import run_live_server, seed_database
from seed import SAMPLE_ENTRIES
from sse_client import SseEvent, read_events
from websockets.exceptions import ConnectionClosed, InvalidStatus

ADMIN = ("realtime-admin@lexica.test", "Quiet-Lantern-47-Orchard")
OTHER = ("realtime-other@lexica.test", "Copper-Willow-62-Brigade")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = seed_database(tmp_path_factory.mktemp("realtime-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_EVENT_STREAM_LIFETIME_SECONDS": "1",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("realtime-uvicorn"), extra_env=env) as base_url:
        yield base_url


def _token(base_url: str, email: str, password: str) -> str:
    with httpx.Client(base_url=base_url) as client:
        if email != ADMIN[0]:
            client.post("/api/v1/auth/register", json={"email": email, "password": password})
        form = {"grant_type": "password", "username": email, "password": password}
        return str(client.post("/api/v1/auth/token", data=form).json()["access_token"])


@pytest.fixture(scope="module")
def admin_token(server: str) -> str:
    return _token(server, *ADMIN)


@pytest.fixture(scope="module")
def other_token(server: str) -> str:
    return _token(server, *OTHER)


def _ws_url(base_url: str, token: str | None) -> str:
    query = f"?access_token={token}" if token else ""
    return f"ws://{urlparse(base_url).netloc}/api/v1/ws{query}"


class Socket:
    """A client socket whose every received message is checked against the AsyncAPI document."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.connection.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), timeout=10))
        validate_ws_message(message)
        return message


async def _exchange(base_url: str, token: str, steps: list[dict[str, Any] | str]) -> list[dict[str, Any]]:
    async with websockets.connect(_ws_url(base_url, token)) as connection:
        socket = Socket(connection)
        replies = []
        for step in steps:
            await socket.send(step)
            replies.append(await socket.receive())
        return replies


def test_without_credentials_the_handshake_is_refused(server: str) -> None:
    async def attempt() -> None:
        async with websockets.connect(_ws_url(server, None)) as connection:
            await connection.recv()

    with pytest.raises((InvalidStatus, ConnectionClosed)):
        asyncio.run(attempt())


def test_ping_and_malformed_messages_get_declared_replies(server: str, admin_token: str) -> None:
    replies = asyncio.run(
        _exchange(
            server,
            admin_token,
            [
                {"type": "ping", "id": "p1"},
                "{not json",
                {"type": "dance"},
                {"type": "subscribe", "topics": ["gossip"]},
                {"type": "subscribe", "topics": []},
                {"type": "ping", "extra": 1},
                "[1, 2]",
                {"type": "subscribe", "id": "s1", "topics": ["job:" + "0" * 32]},
                {"type": "ping"},
            ],
        )
    )
    assert replies[0] == {"type": "pong", "id": "p1"}
    assert [reply["code"] for reply in replies[1:7]] == [
        "invalid_json",
        "invalid_message",
        "invalid_message",
        "invalid_message",
        "invalid_message",
        "invalid_message",
    ]
    assert replies[7]["code"] == "unknown_topic"
    assert replies[7]["id"] == "s1"
    assert replies[8]["type"] == "pong"  # the socket survived all of it


def test_entry_and_list_changes_reach_subscribers(server: str, admin_token: str, other_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}

    async def scenario() -> list[dict[str, Any]]:
        async with (
            websockets.connect(_ws_url(server, admin_token)) as connection,
            httpx.AsyncClient(base_url=server) as http,
        ):
            socket = Socket(connection)
            created = await http.post("/api/v1/lists", json={"name": "Watched"}, headers=auth)
            list_id = created.json()["id"]
            await socket.send({"type": "subscribe", "id": "s", "topics": ["entries", f"list:{list_id}"]})
            assert (await socket.receive())["type"] == "subscribed"
            await asyncio.sleep(0.2)
            word = {"headword": "realtime", "parts_of_speech": []}
            assert (await http.post("/api/v1/words", json=word, headers=auth)).status_code == 201
            added = await http.post(
                f"/api/v1/lists/{list_id}/words",
                json={"headwords": ["realtime"]},
                headers={**auth, "If-Match": created.headers["ETag"]},
            )
            assert added.status_code == 200, added.text
            received = [await socket.receive(), await socket.receive()]
            # Another user may not follow a private list.
            async with websockets.connect(_ws_url(server, other_token)) as intruder:
                spy = Socket(intruder)
                await spy.send({"type": "subscribe", "topics": [f"list:{list_id}"]})
                received.append(await spy.receive())
            return received

    entry, listed, refused = asyncio.run(scenario())
    assert entry["type"] == "entry.changed"
    assert (entry["headword"], entry["change"], entry["version"]) == ("realtime", "created", 1)
    assert listed["type"] == "list.changed"
    assert (listed["change"], listed["version"]) == ("words_added", 2)
    assert refused["code"] == "unknown_topic"


def _read_until_finished(http: httpx.Client, href: str, auth: dict[str, str]) -> list[SseEvent]:
    """Follow the job's events to the end, reconnecting with Last-Event-ID whenever a stream's lifetime ends."""
    events = read_events(http, href, auth)
    while events[-1].name == "stream.reconnect":
        events.pop()
        events += read_events(http, href, {**auth, "Last-Event-ID": events[-1].id or ""})
    return events


def test_job_events_over_websocket_and_sse(server: str, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    lines = "".join(
        json.dumps({"headword": f"zzlive{n:04d}", "parts_of_speech": []}) + "\n" for n in range(2500)
    ).encode()
    with httpx.Client(base_url=server) as http:
        job = http.post(
            "/api/v1/imports", content=lines, headers={**auth, "Content-Type": "application/x-ndjson"}
        ).json()
        events = _read_until_finished(http, job["events_href"], auth)
    assert events[0].name == "job.stages"
    assert events[-1].name == "job.finished"
    replayed = asyncio.run(_exchange(server, admin_token, [{"type": "subscribe", "topics": [f"job:{job['id']}"]}]))
    assert replayed[0]["type"] == "subscribed"

    async def history() -> list[dict[str, Any]]:
        async with websockets.connect(_ws_url(server, admin_token)) as connection:
            socket = Socket(connection)
            await socket.send({"type": "subscribe", "topics": [f"job:{job['id']}"]})
            await socket.receive()
            seen: list[dict[str, Any]] = []
            while not seen or seen[-1]["type"] != "job.finished":
                seen.append(await socket.receive())
            return seen

    seen = asyncio.run(history())
    assert [message["event_id"] for message in seen] == [event.id for event in events[1:]]
