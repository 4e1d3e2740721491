"""What Lexica remembers about a job, and where: Redis when configured (shared by API instances and workers), else
the process's memory (the in-process worker runs in the same process)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio import Redis

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
JOB_TTL_SECONDS = 7 * 24 * 3600  # finished jobs (and their files) are kept a week


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str  # time-ordered (lexica.lists.service.new_list_id layout): newest first is id order, descending
    owner_id: str
    kind: str  # "import" | "export"
    params: Mapping[
        str, Any
    ]  # what to do: {"source": "gcide"}, {"source": "upload", "blob": ...}, {"source": "list", ...}
    stages: tuple[str, ...]
    state: str = "queued"
    stage: str = ""
    done: int = 0
    total: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    attempts: int = 0
    cancel_requested: bool = False
    result: Mapping[str, int] | None = None
    error: Mapping[str, Any] | None = None  # an RFC 9457 problem document

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> str:
        data = asdict(self)
        data["stages"] = list(self.stages)
        for name in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value is not None else None
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRecord:
        data = json.loads(text)
        for name in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            if data.get(name) is not None:
                data[name] = datetime.fromisoformat(data[name])
        data["stages"] = tuple(data["stages"])
        return cls(**data)


class JobStore(Protocol):
    async def create(self, job: JobRecord) -> None: ...

    async def get(self, job_id: str) -> JobRecord | None:
        """The job with its current cancel flag."""
        ...

    async def jobs_of(self, owner_id: str, *, before: str | None, limit: int) -> list[JobRecord]:
        """The owner's jobs, newest first; `before` is the id of the last job of the previous page."""
        ...

    async def save(self, job: JobRecord) -> None:
        """Write the job's state and progress (the cancel flag is kept as the store has it)."""
        ...

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        """Raise the job's cancel flag; the job as it is then, or None when there is no such job."""
        ...

    async def close(self) -> None: ...


class MemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, JobRecord] = {}
        self._cancelled: set[str] = set()

    async def create(self, job: JobRecord) -> None:
        self._jobs[job.id] = job

    async def get(self, job_id: str) -> JobRecord | None:
        job = self._jobs.get(job_id)
        return None if job is None else replace(job, cancel_requested=job_id in self._cancelled)

    async def jobs_of(self, owner_id: str, *, before: str | None, limit: int) -> list[JobRecord]:
        mine = sorted((j for j in self._jobs.values() if j.owner_id == owner_id), key=lambda j: j.id, reverse=True)
        if before is not None:
            mine = [job for job in mine if job.id < before]
        return [replace(job, cancel_requested=job.id in self._cancelled) for job in mine[:limit]]

    async def save(self, job: JobRecord) -> None:
        self._jobs[job.id] = job

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        if job_id not in self._jobs:
            return None
        self._cancelled.add(job_id)
        return await self.get(job_id)

    async def close(self) -> None:
        return None


class RedisJobStore:
    """A hash per job (`data`: the record as JSON, `cancel`: the flag, written by separate commands so that the
    worker's progress writes never undo a cancellation) and a sorted set of each owner's job ids."""

    def __init__(self, redis: Redis, *, prefix: str = "lexica:jobs:") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, job_id: str) -> str:
        return f"{self._prefix}{job_id}"

    def _owner_key(self, owner_id: str) -> str:
        return f"{self._prefix}owner:{owner_id}"

    async def create(self, job: JobRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(job.id), mapping={"data": job.to_json(), "cancel": "0"})
            pipe.expire(self._key(job.id), JOB_TTL_SECONDS)
            pipe.zadd(self._owner_key(job.owner_id), {job.id: 0})  # equal scores: ordered by id
            pipe.expire(self._owner_key(job.owner_id), JOB_TTL_SECONDS)
            await pipe.execute()

    async def get(self, job_id: str) -> JobRecord | None:
        data, cancel = await self._redis.hmget(self._key(job_id), ["data", "cancel"])
        if data is None:
            return None
        return replace(JobRecord.from_json(data), cancel_requested=cancel in (b"1", "1"))

    async def jobs_of(self, owner_id: str, *, before: str | None, limit: int) -> list[JobRecord]:
        upper = f"({before}" if before is not None else "+"
        ids = await self._redis.zrevrangebylex(self._owner_key(owner_id), upper, "-", start=0, num=limit)
        jobs = [await self.get(raw.decode() if isinstance(raw, bytes) else raw) for raw in ids]
        return [job for job in jobs if job is not None]

    async def save(self, job: JobRecord) -> None:
        await self._redis.hset(self._key(job.id), "data", job.to_json())

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        if not await self._redis.exists(self._key(job_id)):
            return None
        await self._redis.hset(self._key(job_id), "cancel", "1")
        return await self.get(job_id)

    async def close(self) -> None:
        return None


def build_job_store(redis: Redis | None) -> JobStore:
    return RedisJobStore(redis) if redis is not None else MemoryJobStore()
