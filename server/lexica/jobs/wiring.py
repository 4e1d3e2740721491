"""Building the job system's parts from the settings: the same stores for the API and `lexica worker`."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from lexica.jobs.blobs import BlobStore
from lexica.jobs.job_processes import JobProcesses
from lexica.jobs.queue import InProcessJobQueue
from lexica.jobs.record_files import DirectoryJobStore
from lexica.jobs.records import JobStore, RedisJobStore
from lexica.jobs.retention import RetentionSweeper
from lexica.jobs.runner import JobContext, record_interrupted
from lexica.platform.events import EventBus, MemoryEventBus
from lexica.settings import Settings

logger = logging.getLogger("lexica.jobs")


def build_blob_store(settings: Settings) -> BlobStore:
    """Job files on disk, in LEXICA_JOB_FILES_DIR/files (shared by every instance and worker with Redis)."""
    return BlobStore(settings.job_files_dir / "files")


async def open_job_store(settings: Settings, redis: Redis | None) -> JobStore:
    """Redis when configured; else one file per job in LEXICA_JOB_FILES_DIR/records, read back at start-up."""
    if redis is not None:
        return RedisJobStore(redis, retention_seconds=settings.job_retention_seconds)
    return await DirectoryJobStore.open(settings.job_files_dir / "records")


def in_process_queue(settings: Settings, context: JobContext) -> InProcessJobQueue:
    """This process's own queue, each job run in a worker process of its own (`JobProcesses`); a job stopped at
    shutdown is recorded as interrupted (nothing else would run it)."""
    context.record_interruptions = True

    async def interrupted(job_id: str) -> None:
        job = await context.jobs.get(job_id)
        if job is not None and not job.finished:
            await record_interrupted(context, job)

    processes = JobProcesses(settings, context)
    return InProcessJobQueue(
        processes.run, concurrency=settings.job_concurrency, interrupted=interrupted, closing=processes.close
    )


async def recover_interrupted(context: JobContext) -> int:
    """At start-up without Redis: the jobs a previous process left queued or running are recorded as interrupted
    (it stopped before it could; nothing will run them). With Redis, SAQ's sweep and `lost` cover this."""
    store = context.jobs
    if not isinstance(store, DirectoryJobStore):
        return 0
    left = store.unfinished()
    for job in left:
        await record_interrupted(context, job)
    if left:
        logger.warning("recorded %d job(s) the previous process left unfinished as interrupted", len(left))
    return len(left)


def retention_sweeper(settings: Settings, jobs: JobStore, blobs: BlobStore, events: EventBus) -> RetentionSweeper:
    return RetentionSweeper(
        jobs,
        blobs,
        retention_seconds=settings.job_retention_seconds,
        interval_seconds=settings.job_sweep_interval_seconds,
        forget_topic=events.forget if isinstance(events, MemoryEventBus) else None,
    )
