"""The socket over a real server: bad frames, sockets per user, the handshake's HTTP quota, messages per socket, a
client that does not read, and the instance draining."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from lexica._generated.events import ServerMessage
from lexica.settings import Settings
from tests.realtime.conftest import Live, closed_with, messages_until_closed, receive, serving


async def _replies(live: Live, frames: list[str | bytes]) -> list[dict[str, object]]:
    account = await live.account()
    async with live.connect(account.access_token, max_size=None) as connection:
        replies = []
        for frame in frames:
            await connection.send(frame)
            replies.append(await receive(connection))
        await connection.send(json.dumps({"type": "ping", "id": "after"}))
        replies.append(await receive(connection))
    for reply in replies:
        ServerMessage.model_validate(reply)  # every reply is a message the AsyncAPI document declares
    return replies


async def test_a_binary_frame_gets_an_error_and_the_socket_stays_usable(live: Live) -> None:
    replies = await _replies(live, [b"\x00\x01binary", json.dumps({"type": "ping", "id": "p"}).encode()])
    assert [reply.get("code") for reply in replies[:2]] == ["binary_frame", "binary_frame"]
    assert replies[-1] == {"type": "pong", "id": "after"}


async def test_deeply_nested_messages_are_refused_before_they_are_parsed(live: Live) -> None:
    nested_objects = '{"type": "ping", "id": "d", "x": ' + '{"a": ' * 20 + "1" + "}" * 20 + "}"
    replies = await _replies(live, ["[" * 100_000 + "]" * 100_000, "[" * 5_000 + "]" * 5_000, nested_objects])
    assert [reply["code"] for reply in replies[:3]] == ["message_too_large", "message_too_deep", "message_too_deep"]
    assert replies[-1] == {"type": "pong", "id": "after"}


async def test_an_oversized_or_invalid_id_is_never_echoed(live: Live) -> None:
    huge = json.dumps({"type": "ping", "id": "x" * 10_000_000})
    long_id = json.dumps({"type": "ping", "id": "y" * 65})
    bad_with_long_key = json.dumps({"type": "ping", "id": "ok", "k" * 5_000: 1})
    replies = await _replies(live, [huge, long_id, bad_with_long_key])
    assert [reply["code"] for reply in replies[:3]] == ["message_too_large", "invalid_message", "invalid_message"]
    assert [reply["id"] for reply in replies[:3]] == [None, None, "ok"]
    assert all(len(json.dumps(reply)) < 1_000 for reply in replies)
    assert replies[-1] == {"type": "pong", "id": "after"}


async def test_a_user_holds_at_most_the_configured_sockets(ws_settings: Callable[..., Settings]) -> None:
    async with serving(ws_settings(websocket_max_connections_per_user=2)) as live:
        account, other = await live.account(), await live.account()
        async with live.connect(account.access_token) as first, live.connect(account.access_token):
            async with live.connect(account.access_token) as third:
                assert await closed_with(third) == 4429
            async with live.connect(other.access_token) as someone_else:  # the cap is per user
                await someone_else.send(json.dumps({"type": "ping"}))
                assert (await receive(someone_else))["type"] == "pong"
            await first.close()
            await asyncio.sleep(0.1)
            async with live.connect(account.access_token) as again:  # a closed socket frees its place
                await again.send(json.dumps({"type": "ping"}))
                assert (await receive(again))["type"] == "pong"


async def test_opening_a_socket_spends_the_http_quota(ws_settings: Callable[..., Settings]) -> None:
    settings = ws_settings(rate_limit_enabled=True, rate_limit_authenticated="4/hour")
    async with serving(settings) as live:
        account = await live.account()
        for _ in range(4):
            async with live.connect(account.access_token):
                pass
        with pytest.raises(InvalidStatus) as refused:
            async with live.connect(account.access_token):
                pass
        response = refused.value.response
        assert response.status_code == 429
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert int(response.headers["Retry-After"]) >= 1
        assert json.loads(response.body)["status"] == 429
        me = await live.http.get("/api/v1/users/me", headers=account.auth)  # the same quota as HTTP requests
        assert me.status_code == 429


async def test_a_flooding_client_is_told_then_disconnected(ws_settings: Callable[..., Settings]) -> None:
    settings = ws_settings(websocket_messages_per_second=1, websocket_message_burst=3)
    async with serving(settings) as live:
        account = await live.account()
        async with live.connect(account.access_token) as connection:
            for n in range(30):
                try:
                    await connection.send(json.dumps({"type": "ping", "id": str(n)}))
                except ConnectionClosed:
                    break
            replies, code = await messages_until_closed(connection)
            assert code == 4429
    assert [reply["type"] for reply in replies[:3]] == ["pong"] * 3
    assert {reply.get("code") for reply in replies[3:]} == {"rate_limited"}
    assert len(replies) <= 3 + 4  # told once per message over the rate, closed when it kept on


async def test_draining_closes_every_socket_with_going_away(live: Live) -> None:
    account = await live.account()
    async with live.connect(account.access_token) as first, live.connect(account.access_token) as second:
        await first.send(json.dumps({"type": "subscribe", "topics": ["entries"]}))
        assert (await receive(first))["type"] == "subscribed"
        live.state.lifecycle.start_draining()
        assert await closed_with(first) == 1001
        assert await closed_with(second) == 1001
    async with live.connect(account.access_token) as late:  # a socket opened while draining goes away at once
        assert await closed_with(late) == 1001


async def test_a_client_that_does_not_read_is_disconnected(ws_settings: Callable[..., Settings]) -> None:
    async with serving(ws_settings(websocket_send_timeout_seconds=0.5)) as live:
        account = await live.account()
        # The client stops reading once one message is queued, and its small receive buffer (no autotuning) fills
        # at once: TCP backpressure reaches the server.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8_192)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", live.port))
        async with live.connect(
            account.access_token, sock=sock, max_queue=1, max_size=None, compression=None
        ) as connection:
            await connection.send(json.dumps({"type": "subscribe", "topics": ["entries"]}))
            assert (await receive(connection))["type"] == "subscribed"
            await asyncio.sleep(0.1)
            filler = "x" * 65_536
            for n in range(300):  # ~20 MB: far more than the socket buffers hold
                await live.state.events.publish(
                    "entries", "entry.changed", {"type": "entry.changed", "n": n, "x": filler}
                )
            await asyncio.sleep(1.5)  # longer than the send timeout
            received, code = await messages_until_closed(connection)  # the server ended it: no timeout here
    assert len(received) < 300
    assert code in (4408, None)  # the close frame may not make it through a full buffer before the server aborts
