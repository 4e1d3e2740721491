"""A worker killed mid-import does not leave the job running forever: another worker's sweep notices the missing
heartbeat and runs the job again, and the idempotent import leaves exactly the entries it should."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import httpx
import pytest
from conftest import require_empty_redis, run_live_server, run_worker, seed_database
from seed import letter_entries

from lexica.storage.sql.database import create_engine
from lexica.storage.sql.words import SqlWordRepository

ADMIN = ("recovery-admin@lexica.test", "Quiet-Lantern-47-Orchard")
REDIS_URL = os.environ.get("LEXICA_TEST_RECOVERY_REDIS_URL", "redis://127.0.0.1:6379/13")
UPLOADED = 60_000


async def _count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await SqlWordRepository(engine).count()
    finally:
        await engine.dispose()


def _wait(client: httpx.Client, href: str, headers: dict[str, str], until: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(href, headers=headers).json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"the job did not get there in {timeout:.0f} s: {job}")
        time.sleep(0.05)


def _past_first_batches(job: dict[str, Any]) -> bool:
    return bool(job["progress"]["done"] >= 5_000 or job["state"] in ("succeeded", "failed", "cancelled"))


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_import_completes_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    require_empty_redis(REDIS_URL, "LEXICA_TEST_RECOVERY_REDIS_URL")
    seeded = letter_entries("X")
    database_url = seed_database(tmp_path_factory.mktemp("recovery-db"), seeded)
    env = {
        "LEXICA_REDIS_URL": REDIS_URL,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "recovery-live-secret-key-long-enough-for-every-check",
        "LEXICA_JOB_HEARTBEAT_SECONDS": "2",
        "LEXICA_JOB_CONCURRENCY": "1",
        # The upload the API receives is read by the workers: one job file directory for all (a shared volume).
        "LEXICA_JOB_FILES_DIR": str(tmp_path_factory.mktemp("job-files")),
    }
    lines = "".join(
        json.dumps({"headword": f"zzrecover{n:06d}", "parts_of_speech": []}) + "\n" for n in range(UPLOADED)
    ).encode()
    with run_live_server(database_url, tmp_path_factory.mktemp("recovery-api"), extra_env=env) as api:
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        with httpx.Client(base_url=api, timeout=60) as client:
            headers = {"Authorization": f"Bearer {client.post('/api/v1/auth/token', data=form).json()['access_token']}"}
            with run_worker(database_url, tmp_path_factory.mktemp("doomed-worker"), extra_env=env) as doomed:
                job = client.post(
                    "/api/v1/imports", content=lines, headers={**headers, "Content-Type": "application/x-ndjson"}
                ).json()
                midway = _wait(client, job["href"], headers, _past_first_batches, timeout=60)
                assert midway["state"] == "running", f"the import ended before the worker could be killed: {midway}"
                doomed.send_signal(signal.SIGKILL)
                doomed.wait()
            killed_at = client.get(job["href"], headers=headers).json()["progress"]["done"]
            assert 0 < killed_at < UPLOADED
            with run_worker(database_url, tmp_path_factory.mktemp("rescuer"), extra_env=env):
                done = _wait(client, job["href"], headers, lambda j: j["state"] in ("succeeded", "failed"), timeout=90)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    total = done["result"]["inserted"] + done["result"]["unchanged"] + done["result"]["updated"]
    assert total == UPLOADED
    assert asyncio.run(_count(database_url)) == len(seeded) + UPLOADED
