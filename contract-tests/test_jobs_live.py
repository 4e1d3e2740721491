"""The whole GCIDE dictionary imported through the job API, watched live from two API instances sharing Redis.

Instance A takes the `POST /api/v1/imports`; a `lexica worker` process runs the job; a second client follows it
over server-sent events on instance B, a third over the WebSocket on instance A. Both must see every progress event,
in order, with the same ids, ending in one `job.finished`; every message must match the AsyncAPI document; and the
job's counts must match what the database holds afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import websockets
from asyncapi_contract import validate_sse_event, validate_ws_message
from conftest import require_empty_redis, run_live_server, run_worker, seed_database
from seed import letter_entries

from lexica.storage.sql.database import create_engine
from lexica.storage.sql.words import SqlWordRepository

ADMIN = ("import-admin@lexica.test", "Quiet-Lantern-47-Orchard")
# A database of its own: the test starts from an empty queue and event history (FLUSHDB), so never a shared one.
REDIS_URL = os.environ.get("LEXICA_TEST_JOBS_REDIS_URL", "redis://127.0.0.1:6379/14")


async def _follow_sse(base_url: str, token: str, href: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of every event until `job.finished`."""
    seen: list[tuple[str, str, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0, read=60.0)) as client,
        client.stream("GET", href, headers=headers) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "event" in fields:
                data = json.loads(fields["data"])
                validate_sse_event(fields["event"], data)
                seen.append((fields.get("id", ""), fields["event"], data))
                if fields["event"] == "job.finished":
                    return seen
            fields = {}
    return seen


async def _follow_ws(base_url: str, token: str, job_id: str) -> list[dict[str, Any]]:
    """Every `job.*` message of the job's topic until `job.finished`."""
    address = urlparse(base_url)
    url = f"ws://{address.netloc}/api/v1/ws?access_token={token}"
    seen: list[dict[str, Any]] = []
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "id": "s1", "topics": [f"job:{job_id}"]}))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
            assert validate_ws_message(message)
            if message["type"] == "subscribed":
                assert message["id"] == "s1"
                continue
            seen.append(message)
            if message["type"] == "job.finished":
                return seen


async def _count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await SqlWordRepository(engine).count()
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_gcide_import_through_a_job_watched_over_sse_and_websocket(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    require_empty_redis(REDIS_URL, "LEXICA_TEST_JOBS_REDIS_URL")
    # Letter X is there already (readiness wants a dictionary); the job imports all of GCIDE over it.
    database_url = seed_database(tmp_path_factory.mktemp("jobs-db"), letter_entries("X"))
    env = {
        "LEXICA_REDIS_URL": REDIS_URL,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "jobs-live-secret-key-long-enough-for-every-check",
        "LEXICA_JOB_HEARTBEAT_SECONDS": "10",
        "LEXICA_JOB_FILES_DIR": str(tmp_path_factory.mktemp("job-files")),  # shared by the instances and the worker
    }
    with (
        run_live_server(database_url, tmp_path_factory.mktemp("instance-a"), extra_env=env) as instance_a,
        run_live_server(database_url, tmp_path_factory.mktemp("instance-b"), extra_env=env) as instance_b,
        run_worker(database_url, tmp_path_factory.mktemp("worker"), extra_env=env),
    ):
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        token = httpx.post(f"{instance_a}/api/v1/auth/token", data=form).json()["access_token"]

        async def scenario() -> tuple[
            dict[str, Any], list[tuple[str, str, dict[str, Any]]], list[dict[str, Any]], float
        ]:
            async with httpx.AsyncClient(base_url=instance_a, timeout=30.0) as client:
                started = time.perf_counter()
                created = await client.post(
                    "/api/v1/imports", json={"source": "gcide"}, headers={"Authorization": f"Bearer {token}"}
                )
                assert created.status_code == 202, created.text
                job = created.json()
                sse, ws = await asyncio.gather(
                    _follow_sse(instance_b, token, job["events_href"]), _follow_ws(instance_a, token, job["id"])
                )
                seconds = time.perf_counter() - started
                final = (await client.get(job["href"], headers={"Authorization": f"Bearer {token}"})).json()
            return final, sse, ws, seconds

        final, sse, ws, seconds = asyncio.run(scenario())
    assert final["state"] == "succeeded", final
    assert sse[0][1] == "job.stages"
    sse_events = [(event_id, data) for event_id, name, data in sse[1:]]
    # Both watchers saw the same events, in the same order, with the same ids.
    assert [event_id for event_id, _ in sse_events] == [message["event_id"] for message in ws]
    assert [data for _, data in sse_events] == ws
    writing = [m["done"] for m in ws if m["type"] == "job.progress" and m["stage"] == "writing"]
    assert writing == sorted(writing)
    assert writing[-1] == final["progress"]["total"]
    assert ws[-1]["type"] == "job.finished"
    result = final["result"]
    stored = asyncio.run(_count(database_url))
    assert result["inserted"] + result["updated"] + result["unchanged"] == stored == final["progress"]["total"]
    assert stored > 100_000
    print(
        f"\nGCIDE through the job path: {stored} entries ({result['inserted']} inserted, {result['unchanged']} "
        f"unchanged), {len(ws)} events seen by each watcher, {seconds:.1f} s from POST to job.finished"
    )
