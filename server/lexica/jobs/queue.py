"""Where jobs wait for a worker: SAQ on Redis when Redis is configured, else an in-process asyncio worker.

Why SAQ (Simple Async Queue): it is asyncio-native (our jobs are async storage work), dequeues without polling
(BLMOVE), and has what a lost worker needs: jobs carry a heartbeat, and every worker periodically sweeps jobs whose
heartbeat stopped, retrying them (up to `retries` attempts) or marking them aborted. arq polls and has no heartbeat
sweep; taskiq needs a broker plus a result backend plus its own retry middleware for the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from saq import Queue
from saq.job import Status

logger = logging.getLogger("lexica.jobs")

QUEUE_NAME = "lexica-jobs"
FUNCTION = "run_lexica_job"

# (job id, heartbeat) -> runs the job to a terminal state
Runner = Callable[[str, Callable[[], Awaitable[None]]], Awaitable[None]]


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None: ...

    async def lost(self, job_id: str) -> bool:
        """Whether the queue gave the job up (a lost worker and no retries left): the job never ends by itself."""
        ...

    async def close(self) -> None: ...


class InProcessJobQueue:
    """Runs jobs as tasks of this process, `concurrency` at a time; they end with the process."""

    def __init__(self, run: Runner, *, concurrency: int = 2) -> None:
        self._run = run
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, job_id: str) -> None:
        task = asyncio.create_task(self._guarded(job_id), name=f"lexica-job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, job_id: str) -> None:
        async with self._slots:
            try:
                await self._run(job_id, _no_heartbeat)
            except Exception:  # run_job reports failures on the job; this is a bug in the runner itself
                logger.exception("job %s crashed the in-process worker", job_id)

    async def lost(self, job_id: str) -> bool:
        return False

    async def close(self) -> None:
        """Stop the running jobs (each at its next await; a batch in progress is rolled back, not half applied)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A job inside a worker thread (reading GCIDE) ends when the thread does; shutdown waits a few seconds.
            await asyncio.wait(self._tasks, timeout=10)


async def _no_heartbeat() -> None:
    return None


class SaqJobQueue:
    """Enqueues onto SAQ; `lexica worker` processes run the jobs."""

    def __init__(self, redis_url: str, *, heartbeat_seconds: int, retries: int) -> None:
        self.queue = Queue.from_url(redis_url, name=QUEUE_NAME)
        self._heartbeat = heartbeat_seconds
        self._retries = retries

    async def enqueue(self, job_id: str) -> None:
        # timeout=0: an import of the whole dictionary takes as long as it takes; the heartbeat detects a dead worker.
        await self.queue.enqueue(
            FUNCTION, key=job_id, job_id=job_id, timeout=0, heartbeat=self._heartbeat, retries=self._retries
        )

    async def lost(self, job_id: str) -> bool:
        job = await self.queue.job(job_id)
        return job is not None and job.status in (Status.ABORTED, Status.FAILED)

    async def close(self) -> None:
        await self.queue.disconnect()


def saq_function(run: Runner) -> Callable[..., Awaitable[None]]:
    """The SAQ job function: runs the job, heartbeating through SAQ's own job record."""

    async def run_lexica_job(ctx: dict[str, Any], *, job_id: str) -> None:
        job = ctx["job"]

        async def heartbeat() -> None:
            await job.update()

        async def beat_while_alive() -> None:
            # Progress reports heartbeat too, but a stage can be long without one (reading GCIDE takes seconds);
            # this keeps a live worker's job from being swept while a dead worker's job still stops beating.
            while True:
                await asyncio.sleep(max(job.heartbeat / 3, 0.5))
                await heartbeat()

        beating = asyncio.create_task(beat_while_alive())
        try:
            await run(job_id, heartbeat)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    run_lexica_job.__name__ = run_lexica_job.__qualname__ = FUNCTION  # SAQ registers functions by qualname
    return run_lexica_job
