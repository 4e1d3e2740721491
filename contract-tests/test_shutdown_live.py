"""SIGTERM drains before it stops: readiness turns 503 while requests are still served (with `Connection:
close`), an open event stream ends with its declared `stream.reconnect` event and a clean end of the chunked
body, and the process exits 0 within drain + grace.

Against `lexica serve` with a private Redis and no job worker, so that the job stays queued and its stream open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from asyncapi_contract import validate_sse_event
from conftest import seed_database
from seed import SAMPLE_ENTRIES
from serve_process import free_port, run_lexica_serve, serve_env
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ADMIN = ("shutdown-admin@lexica.test", "Quiet-Harbour-58-Lantern")
DRAIN_SECONDS = 3.0  # long enough for the checks below on a busy machine; the process exits once it is over
GRACE_SECONDS = 3
WORKERS_DRAIN_SECONDS = 4.0  # several requests to make while the workers drain, on a possibly busy machine


def _next_event(lines: Iterator[str]) -> tuple[str, dict[str, object]] | None:
    """The next event of an open SSE response (comments skipped); None when the server ended the stream."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if "event" in fields:
            data = json.loads(fields["data"])
            validate_sse_event(fields["event"], data)
            return fields["event"], data
        fields = {}
    return None


def _draining_env(redis_url: str, **more: str) -> dict[str, str]:
    """Settings of a server with an admin, Redis and the drain and grace of these tests."""
    return {
        "LEXICA_REDIS_URL": redis_url,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "shutdown-live-secret-key-long-enough-for-every-check",
        "LEXICA_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "LEXICA_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        **more,
    }


def _admin(http: httpx.Client) -> dict[str, str]:
    """The admin's bearer token, as a header."""
    form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    return {"Authorization": f"Bearer {http.post('/api/v1/auth/token', data=form).json()['access_token']}"}


def test_sigterm_drains_then_stops_cleanly(tmp_path: Path, private_redis_url: str) -> None:
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    env = _draining_env(private_redis_url, LEXICA_EVENT_STREAM_LIFETIME_SECONDS="60")
    with run_lexica_serve(database_url, tmp_path, extra_env=env) as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as http:
            auth = _admin(http)
            upload = b'{"headword": "zzdrained", "parts_of_speech": []}\n'
            job = http.post("/api/v1/imports", content=upload, headers={**auth, "Content-Type": "application/x-ndjson"})
            assert job.status_code == 202, job.text
            headers = {**auth, "Accept": "text/event-stream"}
            with http.stream("GET", job.json()["events_href"], headers=headers) as stream:
                lines = stream.iter_lines()
                first = _next_event(lines)
                assert first is not None
                assert first[0] == "job.stages"
                signalled = time.monotonic()
                served.process.send_signal(signal.SIGTERM)
                # The stream ends at once with the reconnect hint, and its chunked body ends cleanly
                # (an abrupt close raises httpx.RemoteProtocolError here).
                last = _next_event(lines)
                after = _next_event(lines)
            ended_after = time.monotonic() - signalled
        assert last == ("stream.reconnect", {"reconnect_after_ms": 1000})
        assert after is None
        assert ended_after < DRAIN_SECONDS

        # Draining: not ready, yet still serving, each response closing its connection.
        with httpx.Client(base_url=served.base_url, timeout=5) as http:
            ready = http.get("/health/ready")
            word = http.get("/api/v1/words/apple")
        assert time.monotonic() - signalled < DRAIN_SECONDS, "the checks ran after the drain"
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert ready.json()["detail"] == "Not ready: shutting down."
        assert ready.headers["connection"] == "close"
        assert word.status_code == 200
        assert word.headers["connection"] == "close"

        exit_code = served.process.wait(timeout=DRAIN_SECONDS + GRACE_SECONDS + 5)
        stopped_after = time.monotonic() - signalled
    assert exit_code == 0, served.log()
    assert stopped_after < DRAIN_SECONDS + GRACE_SECONDS + 2
    assert "Traceback" not in served.log()


def test_several_workers_each_drain_then_the_server_exits_cleanly(tmp_path: Path, private_redis_url: str) -> None:
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    env = {
        "LEXICA_WORKERS": "2",
        "LEXICA_REDIS_URL": private_redis_url,
        "LEXICA_SHUTDOWN_DRAIN_SECONDS": str(WORKERS_DRAIN_SECONDS),
        "LEXICA_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    with run_lexica_serve(database_url, tmp_path, extra_env=env, ready_timeout=60) as served:
        served.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.3)  # the supervisor forwards the signal to each worker
        # Every worker drains: several fresh connections (spread over the workers) all see readiness 503.
        answers = []
        for _ in range(4):
            with httpx.Client(base_url=served.base_url, timeout=5) as http:
                answers.append(http.get("/health/ready").status_code)
        assert time.monotonic() - signalled < WORKERS_DRAIN_SECONDS, "the checks ran after the drain"
        exit_code = served.process.wait(timeout=WORKERS_DRAIN_SECONDS + GRACE_SECONDS + 10)
    assert answers == [503] * 4
    assert exit_code == 0, served.log()


def test_several_workers_without_redis_are_refused_naming_the_setting(tmp_path: Path) -> None:
    env = serve_env(f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}", free_port(), {"LEXICA_WORKERS": "2"})
    command = [sys.executable, "-m", "lexica.cli", "serve", "--no-load-dictionary"]
    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
    output = (finished.stdout + finished.stderr).decode()
    assert finished.returncode == 2, output
    assert "LEXICA_WORKERS=2 needs LEXICA_REDIS_URL" in output
    assert "Traceback" not in output


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path, private_redis_url: str) -> None:
    """A supervisor killed with SIGKILL cannot forward anything: its workers notice it is gone and stop on their
    own, instead of serving on for ever with nobody to stop them."""
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    env = {"LEXICA_WORKERS": "2", "LEXICA_REDIS_URL": private_redis_url}
    with run_lexica_serve(database_url, tmp_path, extra_env=env, ready_timeout=60) as served:
        workers = _children(served.process.pid)
        assert len(workers) >= 2, served.log()
        served.process.kill()
        served.process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in workers if _alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)  # not to leave them behind when the check fails
    assert not left, f"workers still running after their supervisor was killed: {left}\n{served.log()}"


async def _subscribed_sockets(base_url: str, key: str, count: int) -> list[ClientConnection]:
    url = base_url.replace("http://", "ws://", 1) + "/api/v1/ws"
    sockets = []
    for n in range(count):
        socket = await connect(url, additional_headers={"X-API-Key": key})
        await socket.send(json.dumps({"type": "subscribe", "id": str(n), "topics": ["entries"]}))
        assert json.loads(await socket.recv())["type"] == "subscribed"
        sockets.append(socket)
    return sockets


async def _close_codes(sockets: list[ClientConnection], signalled: float) -> list[tuple[int | None, float]]:
    async def closed(socket: ClientConnection) -> tuple[int | None, float]:
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), timeout=30)
        return socket.close_code, time.monotonic() - signalled

    return list(await asyncio.gather(*(closed(socket) for socket in sockets)))


def test_sigterm_closes_every_websocket_with_going_away_at_once(tmp_path: Path, private_redis_url: str) -> None:
    """Every subscribed socket is closed with 1001 when the drain starts, not cut off (1012) when the server stops.
    A follower whose cancellation Python 3.11's `asyncio.wait_for` dropped inside redis-py (CPython gh-86296) used
    to keep its socket open until the grace period ran out."""
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    with run_lexica_serve(database_url, tmp_path, extra_env=_draining_env(private_redis_url)) as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as http:
            created = http.post("/api/v1/users/me/api-keys", json={"name": "sockets"}, headers=_admin(http))
        key = created.json()["key"]

        async def subscribe_then_stop() -> list[tuple[int | None, float]]:
            sockets = await _subscribed_sockets(served.base_url, key, 12)
            signalled = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            return await _close_codes(sockets, signalled)

        closes = asyncio.run(subscribe_then_stop())
        exit_code = served.process.wait(timeout=DRAIN_SECONDS + GRACE_SECONDS + 5)
    assert exit_code == 0, served.log()
    assert [code for code, _ in closes] == [1001] * len(closes), closes
    assert max(after for _, after in closes) < DRAIN_SECONDS, closes
    assert "timeout graceful shutdown exceeded" not in served.log()
