"""Without Redis, jobs outlive the server process: a real `lexica serve` is stopped (SIGTERM, or SIGKILL as a crash)
while an import runs, started again on the same SQLite file and job directory, and the job is there, recorded as
interrupted (a declared problem), not a 404 and not `running` for ever."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.services import free_port
from tests.conftest import TEST_SECRET, letter_files, seed
from tests.jobs.test_jobs import ADMIN, NDJSON, entry_line


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.sqlite3'}"
    asyncio.run(seed(database_url, letter_files("X")))
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEXICA_")}
    env.update(
        {
            "LEXICA_DATABASE_URL": database_url,
            "LEXICA_ENVIRONMENT": "test",
            "LEXICA_SECRET_KEY": TEST_SECRET,
            "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
            "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
            "LEXICA_JOB_FILES_DIR": str(tmp_path / "jobs"),
            "LEXICA_JOB_CONCURRENCY": "1",
            "LEXICA_RATE_LIMIT_ENABLED": "false",
            "LEXICA_TUNE_GC": "false",
            "LEXICA_LOG_LEVEL": "warning",
            "LEXICA_HOST": "127.0.0.1",
        }
    )
    return env


@contextmanager
def serving(env: dict[str, str], workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (workdir / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "lexica.cli", "serve", "--no-load-dictionary"],
        cwd=workdir,
        env={**env, "LEXICA_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=base_url, timeout=1.0) as probe:
            while True:
                try:
                    if probe.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"lexica serve did not get ready: {(workdir / f'serve-{port}.log').read_text()}")
                time.sleep(0.05)
        yield process, base_url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        log.close()


def _poll(client: httpx.Client, href: str, headers: dict[str, str], until: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        job: dict[str, Any] = client.get(href, headers=headers).json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def _start_imports(base_url: str) -> tuple[dict[str, str], list[str]]:
    """An import that runs for a while and one queued behind it; returns the credentials and the jobs' hrefs."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        headers = {"Authorization": f"Bearer {client.post('/api/v1/auth/token', data=form).json()['access_token']}"}
        upload = b"".join(entry_line(f"zzrestart{n:05d}") for n in range(12_000))
        running = client.post("/api/v1/imports", content=upload, headers={**headers, **NDJSON}).json()["href"]
        queued = client.post("/api/v1/imports", content=entry_line("zzqueued"), headers={**headers, **NDJSON})
        job = _poll(client, running, headers, lambda job: job["progress"]["done"] >= 1000)
        assert job["state"] == "running", f"the import was to be running when the server stops: {job}"
        return headers, [running, queued.json()["href"]]


def _assert_interrupted(base_url: str, headers: dict[str, str], hrefs: list[str]) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for href in hrefs:
            response = client.get(href, headers=headers)
            assert response.status_code == 200, response.text
            job = response.json()
            assert job["state"] == "failed", job
            assert job["error"]["type"] == "/problems/job-interrupted"
            assert job["finished_at"] is not None
        listed = client.get("/api/v1/jobs", headers=headers).json()["items"]
        assert {job["href"] for job in listed} == set(hrefs)


def test_imports_running_at_sigterm_or_a_crash_are_recorded_as_interrupted_after_a_restart(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    # SIGTERM: the process records its jobs as interrupted as it stops.
    with serving(server_env, tmp_path) as (process, base_url):
        headers, stopped = _start_imports(base_url)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    # SIGKILL (a crash): the next start-up records what the dead process left running or queued.
    with serving(server_env, tmp_path) as (process, base_url):
        _assert_interrupted(base_url, headers, stopped)
        _, crashed = _start_imports(base_url)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    with serving(server_env, tmp_path) as (_, base_url):
        _assert_interrupted(base_url, headers, stopped + crashed)
    assert not list((tmp_path / "jobs" / "files").rglob("*.ndjson"))  # nothing will import those uploads
