"""Retention: finished jobs, their records and their files are deleted once they are older than the retention period,
in every mode (with Redis or without), by a sweep that every API instance runs periodically.

A file is deleted when it was last written before the cut-off and its job is gone or finished; an upload whose job
still waits for a worker is kept. Several instances sweeping the same directory at once is harmless (deleting a
deleted file is nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from lexica.jobs.blobs import BlobStore
from lexica.jobs.records import JobStore
from lexica.jobs.runner import job_topic
from lexica.platform.cancellation import cancel_until_done

logger = logging.getLogger("lexica.jobs")


@dataclass(frozen=True, slots=True)
class SweepReport:
    records: int
    files: int


class RetentionSweeper:
    def __init__(
        self,
        jobs: JobStore,
        blobs: BlobStore,
        *,
        retention_seconds: float,
        interval_seconds: float,
        forget_topic: Callable[[str], None] | None = None,
    ) -> None:
        self._jobs = jobs
        self._blobs = blobs
        self._forget_topic = forget_topic  # the in-process event bus keeps a job's events until told
        self._retention = timedelta(seconds=retention_seconds)
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> SweepReport:
        cutoff = datetime.now(UTC) - self._retention
        purged = await self._jobs.purge(cutoff)
        if self._forget_topic is not None:
            for gone in purged:
                self._forget_topic(job_topic(gone.id))
        records = len(purged)
        files = 0
        for stored in await self._blobs.files():
            if stored.modified >= cutoff.timestamp():
                continue
            job_id = stored.name.rsplit("/", 1)[-1].split(".", 1)[0]
            job = await self._jobs.get(job_id)
            if job is None or job.finished:
                await self._blobs.delete(stored.name)
                files += 1
        if records or files:
            logger.info("retention: deleted %d job record(s) and %d job file(s)", records, files)
        return SweepReport(records, files)

    async def run(self) -> None:
        """Sweep now and then every interval, until cancelled; a failed sweep is logged and tried again later."""
        while True:
            try:
                await self.sweep()
            except (RedisError, OSError):
                logger.exception("the job retention sweep failed; it runs again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="lexica-job-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_until_done(task)
