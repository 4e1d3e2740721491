"""The job stores on real files and a real Redis: records that survive a restart, atomic admission against the
owner's limits, and retention that forgets finished jobs (and their files) in every mode."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from lexica.jobs.blobs import BlobStore
from lexica.jobs.record_files import DirectoryJobStore
from lexica.jobs.records import JobRecord, JobStore, Limits, RedisJobStore
from lexica.jobs.retention import RetentionSweeper
from lexica.lists.service import new_list_id

OWNER = "6fe26768-8eec-452f-9577-300ee2ec65c1"
ROOMY = Limits(running=100, per_hour=1000)


def new_job(owner: str = OWNER, **changes: object) -> JobRecord:
    job = JobRecord(id=new_list_id(), owner_id=owner, kind="export", params={"source": "list"}, stages=("writing",))
    return replace(job, **changes)  # type: ignore[arg-type]


def finished(job: JobRecord, *, ago: timedelta = timedelta(0)) -> JobRecord:
    return replace(job, state="succeeded", finished_at=datetime.now(UTC) - ago, result={"lines": 1})


@pytest.fixture
async def redis_store(private_redis_url: str) -> AsyncIterator[tuple[RedisJobStore, Redis]]:
    client = Redis.from_url(private_redis_url, socket_timeout=2.0)
    try:
        yield RedisJobStore(client, retention_seconds=1), client
    finally:
        await client.aclose()


async def test_directory_store_finds_its_jobs_again_after_a_restart(tmp_path: Path) -> None:
    store = await DirectoryJobStore.open(tmp_path)
    jobs = []
    for _ in range(3):
        jobs.append(new_job())
        assert await store.admit(jobs[-1], ROOMY) is None
        await asyncio.sleep(0.002)  # ids order by the millisecond
    await store.save(replace(jobs[0], state="running", done=7, total=10))
    await store.request_cancel(jobs[1].id)
    await store.save(finished(jobs[2]))
    (tmp_path / f".{jobs[0].id}.dead.tmp").write_text("{half a rec")  # a write the process did not finish

    again = await DirectoryJobStore.open(tmp_path)
    running = await again.get(jobs[0].id)
    assert running is not None
    assert (running.state, running.done, running.total) == ("running", 7, 10)
    cancelling = await again.get(jobs[1].id)
    assert cancelling is not None
    assert cancelling.cancel_requested
    assert [job.id for job in await again.jobs_of(OWNER, before=None, limit=2)] == [jobs[2].id, jobs[1].id]
    assert [job.id for job in await again.jobs_of(OWNER, before=jobs[1].id, limit=2)] == [jobs[0].id]
    assert {job.id for job in again.unfinished()} == {jobs[0].id, jobs[1].id}
    assert not [path for path in os.listdir(tmp_path) if path.endswith(".tmp")]
    # A progress write after the cancellation keeps the flag.
    await again.save(replace(jobs[1], state="running", done=1))
    kept = await again.get(jobs[1].id)
    assert kept is not None
    assert kept.cancel_requested


async def _admitted_at_once(store: JobStore, limits: Limits) -> int:
    refusals = await asyncio.gather(*(store.admit(new_job(), limits) for _ in range(10)))
    return sum(refusal is None for refusal in refusals)


async def test_directory_store_admits_atomically(tmp_path: Path) -> None:
    store = await DirectoryJobStore.open(tmp_path)
    assert await _admitted_at_once(store, Limits(running=2, per_hour=100)) == 2
    refusal = await store.admit(new_job(), Limits(running=2, per_hour=100))
    assert refusal is not None
    assert refusal.reason == "running"
    for job in await store.unfinished_of(OWNER):
        await store.save(finished(job))
    assert await store.admit(new_job(), Limits(running=2, per_hour=100)) is None
    hourly = await store.admit(new_job(), Limits(running=100, per_hour=3))
    assert hourly is not None
    assert hourly.reason == "per_hour"
    assert 3500 < hourly.retry_after <= 3601
    assert await store.admit(new_job("someone-else"), Limits(running=1, per_hour=1)) is None


async def test_redis_store_admits_atomically(redis_store: tuple[RedisJobStore, Redis]) -> None:
    store, _ = redis_store
    assert await _admitted_at_once(store, Limits(running=2, per_hour=100)) == 2
    for job in await store.unfinished_of(OWNER):
        await store.save(finished(job))
    assert await store.unfinished_of(OWNER) == []
    assert await _admitted_at_once(store, Limits(running=100, per_hour=5)) == 3  # 2 + 3 in the hour
    refusal = await store.admit(new_job(), Limits(running=100, per_hour=5))
    assert refusal is not None
    assert refusal.reason == "per_hour"
    assert 3500 < refusal.retry_after <= 3601


async def test_redis_forgets_finished_jobs_after_the_retention_and_trims_the_owner_sets(
    redis_store: tuple[RedisJobStore, Redis],
) -> None:
    store, client = redis_store
    done, running = new_job(), new_job()
    for job in (done, running):
        assert await store.admit(job, ROOMY) is None
    await store.save(finished(done))
    assert 0 < await client.ttl(f"lexica:jobs:{done.id}") <= 1
    assert await client.ttl(f"lexica:jobs:{running.id}") > 3600
    await asyncio.sleep(1.2)
    assert await store.get(done.id) is None
    await store.purge(datetime.now(UTC))
    owner_ids = await client.zrange(f"lexica:jobs:owner:{OWNER}", 0, -1)
    assert owner_ids == [running.id.encode()]
    assert [job.id for job in await store.jobs_of(OWNER, before=None, limit=10)] == [running.id]
    for key in await client.keys("*"):
        assert await client.ttl(key) > 0, key  # nothing in Redis lives for ever


async def test_the_sweep_deletes_expired_jobs_and_their_files_and_keeps_waiting_uploads(tmp_path: Path) -> None:
    records, files = tmp_path / "records", tmp_path / "files"
    store = await DirectoryJobStore.open(records)
    blobs = BlobStore(files)
    old, recent, waiting = new_job(), new_job(), new_job(kind="import")
    for job in (old, recent, waiting):
        assert await store.admit(job, ROOMY) is None
    await store.save(finished(old, ago=timedelta(hours=2)))
    await store.save(finished(recent))
    for name in (f"{OWNER}/{old.id}.result.ndjson", f"{OWNER}/{recent.id}.result.ndjson"):
        await blobs.append(name, b"{}\n")
    await blobs.append(f"{OWNER}/{waiting.id}.upload.ndjson", b"{}\n")
    await blobs.append(f"{OWNER}/0190aaaaaaaa00000000000000000000.result.ndjson", b"{}\n")  # a job long gone
    two_hours_ago = time.time() - 7200
    for path in files.rglob("*.ndjson"):
        if recent.id not in path.name:
            os.utime(path, (two_hours_ago, two_hours_ago))

    report = await RetentionSweeper(store, blobs, retention_seconds=3600, interval_seconds=60).sweep()

    assert (report.records, report.files) == (1, 2)
    assert await store.get(old.id) is None
    assert not (records / f"{old.id}.json").exists()
    assert {path.name for path in files.rglob("*.ndjson")} == {
        f"{recent.id}.result.ndjson",
        f"{waiting.id}.upload.ndjson",
    }
    assert {job.id for job in (await DirectoryJobStore.open(records)).unfinished()} == {waiting.id}


async def _removes_only_finished_jobs(store: JobStore) -> None:
    running, done, other = new_job(), new_job(), new_job(owner="8b0d5a4e-3c43-4f0e-9a43-5a3a5a51b5e1")
    for job in (running, done, other):
        assert await store.admit(job, ROOMY) is None
    await store.save(replace(running, state="running"))
    await store.save(finished(done))
    await store.save(finished(other))

    assert not await store.remove_finished(running.id)  # a worker still writes it
    assert await store.get(running.id) is not None
    assert await store.remove_finished(done.id)
    assert await store.get(done.id) is None
    assert not await store.remove_finished(done.id)  # gone already
    assert not await store.remove_finished("no-such-job")
    assert [job.id for job in await store.jobs_of(OWNER, before=None, limit=10)] == [running.id]
    assert [job.id for job in await store.unfinished_of(OWNER)] == [running.id]
    assert await store.get(other.id) is not None  # another owner's job is untouched


async def test_directory_store_removes_only_finished_jobs(tmp_path: Path) -> None:
    store = await DirectoryJobStore.open(tmp_path)
    await _removes_only_finished_jobs(store)
    again = await DirectoryJobStore.open(tmp_path)  # and its file is gone
    assert len(await again.jobs_of(OWNER, before=None, limit=10)) == 1


async def test_redis_store_removes_only_finished_jobs(redis_store: tuple[RedisJobStore, Redis]) -> None:
    store, client = redis_store
    await _removes_only_finished_jobs(store)
    assert await client.zcard(f"lexica:jobs:owner:{OWNER}") == 1
