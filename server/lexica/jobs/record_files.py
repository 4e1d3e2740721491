"""Job records without Redis: one JSON file per job, so that a restart of the process finds its jobs again.

Without Redis there is exactly one API process (it runs the jobs too), so that process owns the directory: it reads
every record once at start-up, answers reads from memory (an owner index keeps `jobs_of` a slice, not a scan) and
writes each change through to disk, off the event loop, atomically (a temporary file, fsync, rename), so that a
crash leaves either the old record or the new one, never half of one. Retention deletes finished jobs' files.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import anyio

from lexica.jobs.records import (
    HOUR,
    RUNNING_RETRY_AFTER,
    JobRecord,
    Limits,
    Refusal,
    hourly_retry_after,
    id_floor,
)

logger = logging.getLogger("lexica.jobs")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _write_atomically(directory: Path, job_id: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{job_id}.{secrets.token_hex(4)}.tmp"
    try:
        with temporary.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, directory / f"{job_id}.json")
    finally:
        temporary.unlink(missing_ok=True)


def _read_all(directory: Path) -> list[JobRecord]:
    if not directory.is_dir():
        return []
    jobs = []
    for path in directory.iterdir():
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)  # a write the previous process did not finish
            continue
        if path.suffix != ".json" or not _JOB_ID.match(path.stem):
            continue
        try:
            jobs.append(JobRecord.from_json(path.read_bytes()))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("ignoring the unreadable job record %s: %s", path, exc)
    return jobs


class DirectoryJobStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._jobs: dict[str, JobRecord] = {}
        self._owners: dict[str, list[str]] = {}  # owner -> job ids, ascending (= by creation time)
        self._active: dict[str, set[str]] = {}  # owner -> ids of queued and running jobs
        self._writing = asyncio.Lock()

    @classmethod
    async def open(cls, directory: Path) -> DirectoryJobStore:
        """The store with every record the directory holds."""
        store = cls(directory)
        for job in await anyio.to_thread.run_sync(_read_all, directory):
            store._remember(job)
        return store

    def _remember(self, job: JobRecord) -> None:
        if job.id not in self._jobs:
            bisect.insort(self._owners.setdefault(job.owner_id, []), job.id)
        self._jobs[job.id] = job
        active = self._active.setdefault(job.owner_id, set())
        if job.finished:
            active.discard(job.id)
        else:
            active.add(job.id)

    def _forget(self, job: JobRecord) -> None:
        self._jobs.pop(job.id, None)
        ids = self._owners.get(job.owner_id, [])
        index = bisect.bisect_left(ids, job.id)
        if index < len(ids) and ids[index] == job.id:
            del ids[index]
        if not ids:
            self._owners.pop(job.owner_id, None)
        self._active.get(job.owner_id, set()).discard(job.id)

    async def _flush(self, job_id: str) -> None:
        """Write the job as memory has it now (under the lock, so the last write on disk is the newest state)."""
        async with self._writing:
            job = self._jobs.get(job_id)
            if job is not None:
                await anyio.to_thread.run_sync(_write_atomically, self._directory, job_id, job.to_json())

    async def admit(self, job: JobRecord, limits: Limits) -> Refusal | None:
        now = datetime.now(UTC)
        ids = self._owners.get(job.owner_id, [])
        recent = ids[bisect.bisect_left(ids, id_floor(now - HOUR)) :]
        if len(recent) >= limits.per_hour:
            return Refusal("per_hour", hourly_retry_after(recent[0], now))
        if len(self._active.get(job.owner_id, ())) >= limits.running:
            return Refusal("running", RUNNING_RETRY_AFTER)
        self._remember(job)  # checked and taken without an await in between: atomic within the process
        try:
            await self._flush(job.id)
        except BaseException:
            self._forget(job)
            raise
        return None

    async def get(self, job_id: str) -> JobRecord | None:
        return self._jobs.get(job_id)

    async def jobs_of(self, owner_id: str, *, before: str | None, limit: int) -> list[JobRecord]:
        ids = self._owners.get(owner_id, [])
        end = bisect.bisect_left(ids, before) if before is not None else len(ids)
        return [self._jobs[job_id] for job_id in reversed(ids[max(0, end - limit) : end])]

    async def unfinished_of(self, owner_id: str) -> list[JobRecord]:
        return [self._jobs[job_id] for job_id in sorted(self._active.get(owner_id, ()))]

    def unfinished(self) -> list[JobRecord]:
        """Every queued or running job (at start-up: the ones a previous process left behind)."""
        return [job for job in self._jobs.values() if not job.finished]

    async def save(self, job: JobRecord) -> None:
        current = self._jobs.get(job.id)
        if current is None:  # forgotten meanwhile (retention): nothing to update
            return
        self._remember(replace(job, cancel_requested=current.cancel_requested))
        await self._flush(job.id)

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        current = self._jobs.get(job_id)
        if current is None:
            return None
        self._remember(replace(current, cancel_requested=True))
        await self._flush(job_id)
        return self._jobs.get(job_id)

    async def purge(self, finished_before: datetime) -> list[JobRecord]:
        expired = [
            job for job in self._jobs.values() if job.finished_at is not None and job.finished_at < finished_before
        ]
        for job in expired:
            self._forget(job)

        def delete() -> None:
            for job in expired:
                (self._directory / f"{job.id}.json").unlink(missing_ok=True)

        async with self._writing:
            await anyio.to_thread.run_sync(delete)
        return expired

    async def remove_finished(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        if job is None or not job.finished:
            return False
        self._forget(job)
        async with self._writing:
            await anyio.to_thread.run_sync((self._directory / f"{job_id}.json").unlink, True)
        return True

    async def close(self) -> None:
        return None
