"""Jobs with Redis (a private redis-server): a job that cannot be queued is failed and the client told with a declared
503, never left `queued`; Redis down is a 503, not a 500; export files are written to the shared job directory by a
real SAQ worker, never into Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq.job import Status
from saq.utils import now as now_millis

from lexica.cli import _work
from lexica.jobs.queue import SaqJobQueue
from tests.conftest import _client, letter_files, make_settings, seed
from tests.jobs.conftest import redis_server
from tests.jobs.test_jobs import ADMIN, NDJSON, entry_line, sign_in, wait_for


@asynccontextmanager
async def _api(tmp_path: Path, redis_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'redis-jobs.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(
        url,
        redis_url=redis_url,
        first_admin_email=ADMIN[0],
        first_admin_password=SecretStr(ADMIN[1]),
        job_files_dir=tmp_path / "jobs",
        **overrides,
    )
    clients = _client(settings)
    client = await anext(clients)
    try:
        yield client
    finally:
        await clients.aclose()  # type: ignore[attr-defined]


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/job-queue-unavailable"
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_job_that_cannot_be_queued_is_failed_not_stranded(tmp_path: Path) -> None:
    # SAQ queues with RPUSH; this Redis has no RPUSH (job records and events still work): enqueueing fails for real.
    with redis_server("--rename-command", "RPUSH", "") as redis_url:
        async with _api(tmp_path, redis_url) as api:
            admin = await sign_in(api, *ADMIN)
            refused = await api.post("/api/v1/imports", content=entry_line("zzunqueued"), headers={**admin, **NDJSON})
            _assert_unavailable(refused)
            jobs = (await api.get("/api/v1/jobs", headers=admin)).json()["items"]
            assert [job["state"] for job in jobs] == ["failed"]
            assert jobs[0]["error"]["type"] == "/problems/job-queue-unavailable"
            assert not [path for path in (tmp_path / "jobs").rglob("*") if path.is_file()]  # the upload is gone
            refused = await api.post("/api/v1/exports", json={"source": "dictionary"}, headers=admin)
            _assert_unavailable(refused)
            states = [job["state"] for job in (await api.get("/api/v1/jobs", headers=admin)).json()["items"]]
            assert states == ["failed", "failed"]


async def test_redis_down_refuses_new_jobs_with_a_503(tmp_path: Path) -> None:
    with redis_server() as redis_url:
        async with _api(tmp_path, redis_url, rate_limit_enabled=False) as api:
            admin = await sign_in(api, *ADMIN)
            doomed = Redis.from_url(redis_url)
            try:
                await doomed.shutdown(nosave=True)
            except RedisError:  # the server closes the connection as it goes
                pass
            finally:
                await doomed.aclose()
            async with asyncio.timeout(15):
                refused = await api.post("/api/v1/exports", json={"source": "dictionary"}, headers=admin)
                listed = await api.get("/api/v1/jobs", headers=admin)
                read = await api.get("/api/v1/jobs/01a21d8979d2fc7d688d70c325a54c23", headers=admin)
            _assert_unavailable(refused)
            for answer in (listed, read):  # job records live in Redis: reading them is a declared 503, not a 500
                assert answer.status_code == 503, answer.text
                assert answer.json()["type"] == "/problems/service-unavailable"
                assert int(answer.headers["Retry-After"]) >= 1


async def test_export_files_are_on_the_shared_disk_not_in_redis(tmp_path: Path, private_redis_url: str) -> None:
    async with _api(tmp_path, private_redis_url) as api:
        admin = await sign_in(api, *ADMIN)
        started = await api.post("/api/v1/exports", json={"source": "dictionary"}, headers=admin)
        assert started.status_code == 202, started.text
        worker_settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'redis-jobs.sqlite3'}",
            redis_url=private_redis_url,
            job_files_dir=tmp_path / "jobs",
        )
        worker = asyncio.create_task(_work(worker_settings, burst=True))
        try:
            done = await wait_for(api, admin, started.json()["href"])
        finally:
            async with asyncio.timeout(10):
                await worker
        assert done["state"] == "succeeded", done
        files = list((tmp_path / "jobs" / "files").rglob("*.result.ndjson"))
        assert len(files) == 1
        download = await api.get(done["result_href"], headers=admin)
        assert download.content == files[0].read_bytes()
        assert len(download.text.splitlines()) == done["result"]["lines"] > 0
        client = Redis.from_url(private_redis_url)
        try:
            assert [key async for key in client.scan_iter(match="lexica:blobs:*")] == []
            job_key = f"lexica:jobs:{done['id']}"
            assert 0 < await client.ttl(job_key) <= 86_400  # kept for the retention period once finished
        finally:
            await client.aclose()


async def test_a_job_left_aborting_in_no_workers_hands_is_lost(private_redis_url: str) -> None:
    # Seen in the fault-injection suite: Redis died between SAQ's abort and its retry of a swept job, which then sat
    # `aborting` in no queue; reading the job must fail it rather than report it running forever.
    queue = SaqJobQueue(private_redis_url, heartbeat_seconds=1, retries=1)
    try:
        await queue.enqueue("01a21db7286eaf56210b96582e55075f")
        await queue.enqueue("01a21db7286eaf56210b96582e550760")
        assert not await queue.lost("01a21db7286eaf56210b96582e55075f")  # queued: a worker will take it
        stranded = await queue.queue.job("01a21db7286eaf56210b96582e55075f")
        active = await queue.queue.job("01a21db7286eaf56210b96582e550760")
        assert stranded is not None
        assert active is not None
        await stranded.update(status=Status.ABORTING, touched=now_millis() - 6_000)
        await active.update(status=Status.ACTIVE, touched=now_millis())

        # A sweep aborts, waits up to 5 s, then retries: an aborting job that went quiet a moment ago may be in it.
        assert not await queue.lost("01a21db7286eaf56210b96582e55075f")
        await stranded.update(touched=now_millis() - 20_000)
        assert await queue.lost("01a21db7286eaf56210b96582e55075f")
        assert not await queue.lost("01a21db7286eaf56210b96582e550760")  # heartbeating: in a worker's hands
        await active.update(touched=now_millis() - 60_000)
        assert await queue.lost("01a21db7286eaf56210b96582e550760")  # silent far past any sweep's retry
    finally:
        await queue.close()
