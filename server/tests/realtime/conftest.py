"""Fixtures for the WebSocket tests: the app served by a real uvicorn on a loopback port, in the test's event loop.

In process rather than in a subprocess so that a test can reach the instance's state (drain it, publish events); the
server is still uvicorn's, so frames, close codes and denial responses are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from lexica.app import create_app
from lexica.platform.running import require_running
from lexica.settings import Settings
from lexica.state import AppState
from tests.auth.conftest import FAST_HASHER
from tests.auth.helpers import STRONG_PASSWORD, new_email
from tests.conftest import make_settings

RECEIVE_TIMEOUT = 5.0


@dataclass
class Account:
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Live:
    """A running server: its base URLs, its state, HTTP calls and WebSocket connections."""

    def __init__(self, port: int, state: AppState) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/api/v1/ws"
        self.state = state
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=10)

    async def account(self) -> Account:
        email = new_email("ws")
        registered = await self.http.post("/api/v1/auth/register", json={"email": email, "password": STRONG_PASSWORD})
        assert registered.status_code == 201, registered.text
        form = {"grant_type": "password", "username": email, "password": STRONG_PASSWORD}
        tokens = (await self.http.post("/api/v1/auth/token", data=form)).json()
        return Account(registered.json()["id"], tokens["access_token"], tokens["refresh_token"])

    def connect(self, token: str | None = None, **options: Any) -> websockets.connect:
        url = self.ws_url if token is None else f"{self.ws_url}?access_token={token}"
        return websockets.connect(url, open_timeout=RECEIVE_TIMEOUT, **options)


async def receive(connection: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), RECEIVE_TIMEOUT))
    return message


async def messages_until_closed(connection: websockets.ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every message received until the connection closes (within RECEIVE_TIMEOUT), and the close code the server
    sent (None if none)."""
    messages: list[dict[str, Any]] = []

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                messages.append(json.loads(message))

    await asyncio.wait_for(drain(), RECEIVE_TIMEOUT)
    return messages, connection.close_code


async def closed_with(connection: websockets.ClientConnection) -> int | None:
    """The close code the server sent, once the connection has closed (messages before it are skipped)."""
    return (await messages_until_closed(connection))[1]


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[assignment]  # the test runner keeps its signals
    sock = _bound_socket()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        live = Live(sock.getsockname()[1], require_running(server.lifespan.state).app)
        try:
            yield live
        finally:
            await live.http.aclose()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


LiveFactory = Callable[..., Any]


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from lexica.auth import passwords

    monkeypatch.setattr(passwords, "_HASHER", FAST_HASHER)


@pytest.fixture
def ws_settings(empty_database: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"search_index_on_startup": False, "redis_url": None, **overrides}
        return make_settings(empty_database, **values)

    return build


@pytest.fixture
async def live(ws_settings: Callable[..., Settings]) -> AsyncIterator[Live]:
    async with serving(ws_settings(websocket_reauth_seconds=0.3)) as started:
        yield started


def topic_id() -> str:
    return uuid.uuid4().hex
