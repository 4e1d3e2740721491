"""Where jobs wait for a worker: SAQ on Redis when Redis is configured, else this process's own queue, which runs
each job in a worker process of its own (`lexica.jobs.job_processes`).

Why SAQ (Simple Async Queue): it is asyncio-native (our jobs are async storage work), dequeues without polling
(BLMOVE), and has what a lost worker needs: jobs carry a heartbeat, and every worker periodically sweeps jobs whose
heartbeat stopped, retrying them (up to `retries` attempts) or marking them aborted. arq polls and has no heartbeat
sweep; taskiq needs a broker plus a result backend plus its own retry middleware for the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.exceptions import RedisError
from saq.job import Status
from saq.queue.redis import RedisQueue
from saq.utils import now as now_millis

from lexica.platform.cancellation import cancel_until_done
from lexica.platform.redis_client import RedisOptions, redis_client

logger = logging.getLogger("lexica.jobs")

QUEUE_NAME = "lexica-jobs"
# How many heartbeats of silence make a job SAQ holds as `aborting` or `active` a lost one (see SaqJobQueue.lost).
LOST_AFTER_SILENT_HEARTBEATS = 10
FUNCTION = "run_lexica_job"

# (job id, heartbeat) -> runs the job to a terminal state
Runner = Callable[[str, Callable[[], Awaitable[None]]], Awaitable[None]]


class QueueUnavailable(Exception):
    """The queue takes no jobs (it is closing); SAQ's own failures are `redis.exceptions.RedisError`."""


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None:
        """Hand the job to a worker; raises `QueueUnavailable` or `redis.exceptions.RedisError` when it cannot."""
        ...

    async def lost(self, job_id: str) -> bool:
        """Whether the queue gave the job up (a lost worker and no retries left): the job never ends by itself."""
        ...

    async def close(self) -> None: ...


class InProcessJobQueue:
    """Runs jobs as tasks of this process, `concurrency` at a time; they end with the process.

    `interrupted` records a job that was still waiting for a slot when the queue closed (a running job records
    that itself, see `run_job`); whatever the process could not record, the next start-up does.
    """

    def __init__(
        self,
        run: Runner,
        *,
        concurrency: int = 2,
        interrupted: Callable[[str], Awaitable[None]] | None = None,
        closing: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`closing`: what else to stop once the jobs have stopped (the runner's spare worker process)."""
        self._run = run
        self._interrupted = interrupted
        self._on_close = closing
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def enqueue(self, job_id: str) -> None:
        if self._closing:
            raise QueueUnavailable("the server is shutting down")
        task = asyncio.create_task(self._guarded(job_id), name=f"lexica-job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, job_id: str) -> None:
        started = False
        try:
            async with self._slots:
                started = True
                await self._run(job_id, _no_heartbeat)
        except asyncio.CancelledError:
            if not started and self._interrupted is not None:
                await self._interrupted(job_id)
            raise
        except Exception:  # run_job reports failures on the job; this is a bug in the runner itself
            logger.exception("job %s crashed the in-process worker", job_id)

    async def lost(self, job_id: str) -> bool:
        return False

    async def close(self) -> None:
        """Stop the running jobs (each at its next await; a batch in progress is rolled back, not half applied)."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A job's worker process records the job as interrupted before it exits; shutdown waits a few seconds.
            await asyncio.wait(self._tasks, timeout=10)
        if self._on_close is not None:
            await self._on_close()


async def _no_heartbeat() -> None:
    return None


class SaqJobQueue:
    """Enqueues onto SAQ; `lexica worker` processes run the jobs."""

    def __init__(
        self,
        redis_url: str,
        *,
        heartbeat_seconds: int,
        retries: int,
        options: RedisOptions | None = None,
        blocking: bool = False,
    ) -> None:
        # The app's Redis client (circuit breaker, one retry, health checks); a worker (`blocking`) waits in BLMOVE
        # for the next job, so its reads have no timeout.
        options = options or RedisOptions()
        client = redis_client(redis_url, options, socket_timeout=None if blocking else options.socket_timeout)
        self.queue = RedisQueue(client, name=QUEUE_NAME)
        self._heartbeat = heartbeat_seconds
        self._retries = retries

    async def enqueue(self, job_id: str) -> None:
        # timeout=0: an import of the whole dictionary takes as long as it takes; the heartbeat detects a dead worker.
        await self.queue.enqueue(
            FUNCTION, key=job_id, job_id=job_id, timeout=0, heartbeat=self._heartbeat, retries=self._retries
        )

    async def lost(self, job_id: str) -> bool:
        job = await self.queue.job(job_id)
        if job is None:  # never enqueued (Redis failed in between) or SAQ forgot it: nothing will run it
            return True
        if job.status in (Status.ABORTED, Status.FAILED):
            return True
        # A job being aborted or active, silent long after any sweep would have retried it, is in no worker's hands:
        # seen after a Redis outage cut SAQ's own abort-then-retry in half (the fault-injection suite), the job sat
        # `aborting` in no queue, forever. The bound is well past a sweep's own abort wait (5 s) plus a heartbeat, so
        # a sweep that is retrying the job right now is never pre-empted.
        silent_ms = now_millis() - job.touched
        quiet_enough = silent_ms > LOST_AFTER_SILENT_HEARTBEATS * self._heartbeat * 1000
        return job.status in (Status.ABORTING, Status.ACTIVE) and quiet_enough

    async def close(self) -> None:
        try:
            await self.queue.disconnect()
        except RedisError as exc:  # Redis is down at shutdown: nothing left to tell it
            logger.warning("the job queue did not disconnect cleanly: %s", exc)


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
            await cancel_until_done(beating)

    run_lexica_job.__name__ = run_lexica_job.__qualname__ = FUNCTION  # SAQ registers functions by qualname
    return run_lexica_job
