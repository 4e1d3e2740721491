"""What Lexica remembers about a job, and where: Redis when configured (shared by API instances and workers), else
one JSON file per job in LEXICA_JOB_FILES_DIR (the in-process worker runs in the same process), so that a restart
finds its jobs again.

Both stores keep a finished job for the retention period and then forget it, and both admit a new job atomically
against the owner's limits (jobs queued or running, jobs started in the last hour): concurrent requests of one user
cannot all slip under a cap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
UNFINISHED_TTL_SECONDS = 7 * 24 * 3600  # a job still queued or running after a week is forgotten even so
HOUR = timedelta(hours=1)


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
    # The W3C trace context of the request that started the job (`traceparent`, `tracestate`): the job's span joins
    # that trace wherever the job runs (lexica.platform.tracing). None outside a trace.
    trace_context: Mapping[str, str] | None = None

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


@dataclass(frozen=True, slots=True)
class Limits:
    """How many jobs one owner may have queued or running, and start per hour."""

    running: int
    per_hour: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a job was not admitted, and in how many seconds trying again can succeed."""

    reason: str  # "running" | "per_hour"
    retry_after: int


def id_floor(moment: datetime) -> str:
    """The smallest job id created at or after `moment` (ids start with 12 hex digits of milliseconds)."""
    return f"{int(moment.timestamp() * 1000):012x}"


def created_at_of(job_id: str) -> datetime:
    return datetime.fromtimestamp(int(job_id[:12], 16) / 1000, UTC)


def hourly_retry_after(oldest_in_window: str, now: datetime) -> int:
    return max(1, int((created_at_of(oldest_in_window) + HOUR - now).total_seconds()) + 1)


RUNNING_RETRY_AFTER = 10  # nobody knows when a running job ends; a hint to poll, not a promise


class JobRecords(Protocol):
    """What running a job reads and writes of its record (a worker process reaches them through its parent)."""

    async def get(self, job_id: str) -> JobRecord | None:
        """The job with its current cancel flag."""
        ...

    async def save(self, job: JobRecord) -> None:
        """Write the job's state and progress (the cancel flag is kept as the store has it)."""
        ...


class JobStore(JobRecords, Protocol):
    async def admit(self, job: JobRecord, limits: Limits) -> Refusal | None:
        """Store the new job unless its owner is at a limit (checked and stored atomically); the refusal if so."""
        ...

    async def jobs_of(self, owner_id: str, *, before: str | None, limit: int) -> list[JobRecord]:
        """The owner's jobs, newest first; `before` is the id of the last job of the previous page."""
        ...

    async def unfinished_of(self, owner_id: str) -> list[JobRecord]:
        """The owner's queued and running jobs (few: the running limit bounds them)."""
        ...

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        """Raise the job's cancel flag; the job as it is then, or None when there is no such job."""
        ...

    async def purge(self, finished_before: datetime) -> list[JobRecord]:
        """Forget the jobs that finished before the moment; the jobs forgotten (where the store can tell)."""
        ...

    async def remove_finished(self, job_id: str) -> bool:
        """Forget the job if it has finished (checked and removed atomically: a job that a worker is still writing
        is never removed); whether it was removed."""
        ...

    async def close(self) -> None: ...


class RedisJobStore:
    """A hash per job (`data`: the record as JSON, `cancel`: the flag, written by separate commands so that the
    worker's progress writes never undo a cancellation), a sorted set of each owner's job ids (equal scores, so
    ordered by id, i.e. by creation time) and a sorted set of each owner's unfinished job ids.

    Every write sets a TTL: the retention once the job finished, a week before. Owner sets are trimmed of ids older
    than that week on every admission and of ids whose job expired when they are listed or swept.
    """

    _ADMIT = """
    local recent = redis.call('ZLEXCOUNT', KEYS[1], '[' .. ARGV[3], '+')
    if recent >= tonumber(ARGV[4]) then
        local oldest = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[3], '+', 'LIMIT', 0, 1)
        return {'per_hour', oldest[1]}
    end
    if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
        return {'running', ''}
    end
    redis.call('HSET', KEYS[3], 'data', ARGV[2], 'cancel', '0')
    redis.call('EXPIRE', KEYS[3], ARGV[6])
    redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[7])
    redis.call('ZADD', KEYS[1], 0, ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[6])
    redis.call('ZADD', KEYS[2], 0, ARGV[1])
    redis.call('EXPIRE', KEYS[2], ARGV[6])
    return {'', ''}
    """
    _CANCEL = """
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    redis.call('HSET', KEYS[1], 'cancel', '1')
    return 1
    """
    _REMOVE_FINISHED = """
    local data = redis.call('HGET', KEYS[1], 'data')
    if not data then return 0 end
    local job = cjson.decode(data)
    if job.state ~= 'succeeded' and job.state ~= 'failed' and job.state ~= 'cancelled' then return 0 end
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', ARGV[1] .. 'owner:' .. job.owner_id, job.id)
    redis.call('ZREM', ARGV[1] .. 'active:' .. job.owner_id, job.id)
    return 1
    """
    _SAVE = """
    if redis.call('HEXISTS', KEYS[1], 'data') == 0 then return 0 end
    redis.call('HSET', KEYS[1], 'data', ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    if ARGV[3] == '1' then redis.call('ZREM', KEYS[2], ARGV[4]) end
    return 1
    """

    def __init__(self, redis: Redis, *, retention_seconds: int, prefix: str = "lexica:jobs:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._retention = retention_seconds
        self._admit = redis.register_script(self._ADMIT)
        self._cancel = redis.register_script(self._CANCEL)
        self._save = redis.register_script(self._SAVE)
        self._remove_finished = redis.register_script(self._REMOVE_FINISHED)

    def _key(self, job_id: str) -> str:
        return f"{self._prefix}{job_id}"

    def _owner_key(self, owner_id: str) -> str:
        return f"{self._prefix}owner:{owner_id}"

    def _active_key(self, owner_id: str) -> str:
        return f"{self._prefix}active:{owner_id}"

    async def admit(self, job: JobRecord, limits: Limits) -> Refusal | None:
        now = datetime.now(UTC)
        keys = [self._owner_key(job.owner_id), self._active_key(job.owner_id), self._key(job.id)]
        args: list[str | int] = [
            job.id,
            job.to_json(),
            id_floor(now - HOUR),
            limits.per_hour,
            limits.running,
            UNFINISHED_TTL_SECONDS,
            id_floor(now - timedelta(seconds=UNFINISHED_TTL_SECONDS)),
        ]
        reason, oldest = (_text(part) for part in await self._admit(keys=keys, args=args))
        if reason == "per_hour":
            return Refusal("per_hour", hourly_retry_after(oldest, now))
        if reason == "running":
            return Refusal("running", RUNNING_RETRY_AFTER)
        return None

    async def get(self, job_id: str) -> JobRecord | None:
        data, cancel = await self._redis.hmget(self._key(job_id), ["data", "cancel"])
        if data is None:
            return None
        return replace(JobRecord.from_json(data), cancel_requested=cancel in (b"1", "1"))

    async def _records(self, owner_key: str, ids: list[Any]) -> list[JobRecord]:
        """The jobs of `ids`; ids whose job expired are removed from the owner's set."""
        names = [_text(raw) for raw in ids]
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(self._key(name), ["data", "cancel"])
            rows = await pipe.execute()
        jobs = [
            None if data is None else replace(JobRecord.from_json(data), cancel_requested=cancel in (b"1", "1"))
            for data, cancel in rows
        ]
        gone = [name for name, job in zip(names, jobs, strict=True) if job is None]
        if gone:
            await self._redis.zrem(owner_key, *gone)
        return [job for job in jobs if job is not None]

    async def jobs_of(self, owner_id: str, *, before: str | None, limit: int) -> list[JobRecord]:
        upper = f"({before}" if before is not None else "+"
        key = self._owner_key(owner_id)
        found: list[JobRecord] = []
        while len(found) < limit:
            ids = await self._redis.zrevrangebylex(key, upper, "-", start=0, num=limit - len(found))
            if not ids:
                break
            found.extend(await self._records(key, ids))
            upper = f"({_text(ids[-1])}"
        return found

    async def unfinished_of(self, owner_id: str) -> list[JobRecord]:
        key = self._active_key(owner_id)
        jobs = await self._records(key, await self._redis.zrange(key, 0, -1))
        ended = [job.id for job in jobs if job.finished]
        if ended:
            await self._redis.zrem(key, *ended)
        return [job for job in jobs if not job.finished]

    async def save(self, job: JobRecord) -> None:
        ttl = self._retention if job.finished else UNFINISHED_TTL_SECONDS
        keys = [self._key(job.id), self._active_key(job.owner_id)]
        await self._save(keys=keys, args=[job.to_json(), ttl, "1" if job.finished else "0", job.id])

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        if not await self._cancel(keys=[self._key(job_id)]):
            return None
        return await self.get(job_id)

    async def purge(self, finished_before: datetime) -> list[JobRecord]:
        """Finished jobs expire by themselves (their TTL); this trims the owner sets of the ids that expired."""
        async for raw in self._redis.scan_iter(match=f"{self._prefix}owner:*", count=500):
            key = _text(raw)
            ids = await self._redis.zrange(key, 0, -1)
            for start in range(0, len(ids), 500):
                await self._records(key, ids[start : start + 500])
        return []

    async def remove_finished(self, job_id: str) -> bool:
        # The owner's sets are named from the record inside the script (a cluster would need them as KEYS; this
        # store runs on one Redis, as the rest of Lexica's keys do).
        return bool(await self._remove_finished(keys=[self._key(job_id)], args=[self._prefix]))

    async def close(self) -> None:
        return None


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
