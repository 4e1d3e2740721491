"""The embedded mode runs each job in a worker process of its own (`lexica.jobs.job_process`): the job's CPU work is
not on the API's event loop, and however the process ends, the job ends."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from lexica.jobs import job_processes
from tests.jobs.test_jobs import ADMIN, NDJSON, entry_line, sign_in, wait_for
from tests.jobs.test_limits import _api

WORKER_MODULE = b"lexica.jobs.job_process"


def _job_processes() -> list[int]:
    """This test process's children that are job worker processes."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    found = []
    for child in children:
        try:
            if WORKER_MODULE in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except FileNotFoundError:  # it ended meanwhile
            continue
    return found


async def _started_process() -> int:
    async with asyncio.timeout(30):
        while not (processes := _job_processes()):  # noqa: ASYNC110 - the process tree sends no event
            await asyncio.sleep(0.05)
    return processes[0]


async def _no_job_process_left() -> None:
    async with asyncio.timeout(15):
        while _job_processes():  # noqa: ASYNC110 - the process tree sends no event
            await asyncio.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
async def test_a_job_runs_in_a_process_of_its_own_and_a_spare_waits_for_the_next(tmp_path: Path) -> None:
    async with _api(tmp_path) as api:
        admin = await sign_in(api, *ADMIN)
        lines = b"".join(entry_line(f"zzprocess{n:05d}") for n in range(200))
        started = await api.post("/api/v1/imports", content=lines, headers={**admin, **NDJSON})
        assert started.status_code == 202, started.text
        assert await _started_process()  # the job's own process, not the API's loop

        finished = await wait_for(api, admin, started.json()["href"])

        assert finished["state"] == "succeeded", finished
        assert finished["result"]["inserted"] == 200
        assert (await api.get("/api/v1/words/zzprocess00199")).status_code == 200
        async with asyncio.timeout(10):  # the job's process is gone; the spare started meanwhile waits
            while len(_job_processes()) != 1:  # noqa: ASYNC110 - the process tree sends no event
                await asyncio.sleep(0.05)
        spare = _job_processes()[0]

        again = await api.post("/api/v1/imports", content=entry_line("zzprocessagain"), headers={**admin, **NDJSON})
        assert (await wait_for(api, admin, again.json()["href"]))["state"] == "succeeded"
        async with asyncio.timeout(10):  # the second job ran in the spare, which ends with it
            while spare in _job_processes():  # noqa: ASYNC110 - the process tree sends no event
                await asyncio.sleep(0.05)

    await _no_job_process_left()  # the API stopped: so did its spare


async def test_an_unused_spare_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_processes, "SPARE_IDLE_SECONDS", 0.5)
    async with _api(tmp_path) as api:
        admin = await sign_in(api, *ADMIN)
        started = await api.post("/api/v1/imports", content=entry_line("zzidle"), headers={**admin, **NDJSON})
        assert (await wait_for(api, admin, started.json()["href"]))["state"] == "succeeded"
        await _no_job_process_left()


async def test_a_job_whose_process_is_killed_fails_as_worker_lost(tmp_path: Path) -> None:
    async with _api(tmp_path) as api:
        admin = await sign_in(api, *ADMIN)
        lines = b"".join(entry_line(f"zzkilled{n:05d}") for n in range(20_000))
        started = await api.post("/api/v1/imports", content=lines, headers={**admin, **NDJSON})
        assert started.status_code == 202, started.text
        await _started_process()
        # Running: the process has told the API it started the job, in the metrics too (the state is saved a moment
        # before the metrics hear of it; a kill in between left no running count to check below).
        async with asyncio.timeout(30):
            while 'lexica_jobs_running{kind="import"} 1.0' not in (await api.get("/metrics")).text:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert (await api.get(started.json()["href"], headers=admin)).json()["state"] == "running"
        for process in _job_processes():  # the job's, and the spare (which nothing needs yet)
            os.kill(process, signal.SIGKILL)

        finished = await wait_for(api, admin, started.json()["href"])

        assert finished["state"] == "failed", finished
        assert finished["error"]["type"] == "/problems/worker-lost"
        assert "exit status -9" in finished["error"]["detail"]
        metrics = (await api.get("/metrics")).text
        running = [line for line in metrics.splitlines() if line.startswith("lexica_jobs_running{")]
        assert running, metrics[:500]
        assert all(line.endswith(" 0.0") for line in running), running  # the killed job is no longer counted
