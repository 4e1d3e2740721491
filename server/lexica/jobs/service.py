"""Jobs as resources: who may start, see and cancel them; uploads checked line by line; progress as an event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent

from lexica._generated.events import StreamReconnect
from lexica.jobs.blobs import BlobStore
from lexica.jobs.limits import (
    JobLimits,
    UserLimits,
    queue_unavailable,
    queue_unavailable_problem,
    quota_exceeded,
    too_many_jobs,
    worker_lost_problem,
)
from lexica.jobs.queue import JobQueue, QueueUnavailable
from lexica.jobs.records import HOUR, RUNNING_RETRY_AFTER, JobRecord, JobStore, Refusal, hourly_retry_after
from lexica.jobs.runner import (
    EXPORT_STAGES,
    IMPORT_STAGES,
    OVERWRITE_EDITED,
    QUOTA_PARAM,
    finished_message,
    job_topic,
    result_blob,
    stages_message,
    upload_blob,
    validate_upload_line,
)
from lexica.lists.service import ListService, new_list_id
from lexica.platform.binding import NdjsonUpload
from lexica.platform.event_messages import announce, delivered
from lexica.platform.events import Event, EventBus
from lexica.platform.lifecycle import Lifecycle
from lexica.platform.pagination import CursorCodec, Keyset
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.security import Principal, Role
from lexica.platform.tracing import current_trace_context
from lexica.words.keys import unusable_headword

logger = logging.getLogger("lexica.jobs")

MAX_REPORTED_LINE_ERRORS = 20
_UPLOAD_FLUSH_BYTES = 1 << 20
_FINISHED_HISTORY_WAIT = 1.0  # a finished job's stream ends if its kept history has no terminal event


def _not_found(job_id: str) -> ProblemError:
    return ProblemError(404, f"No job {job_id!r}.")


def _overwrite(overwrite_edited: bool) -> dict[str, str]:
    """The job parameter asking an import to replace entries edited since they were imported (absent: keep them)."""
    return {OVERWRITE_EDITED: "true"} if overwrite_edited else {}


@contextlib.contextmanager
def _unavailable_queue_refuses() -> Iterator[None]:
    """Redis (job records, the queue) unreachable before anything was stored: a 503, not a 500."""
    try:
        yield
    except RedisError as exc:
        logger.warning("jobs are unavailable: %s", exc)
        raise queue_unavailable(recorded=False) from None


def _sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(delivered(event), separators=(",", ":")), event=event.name, id=event.id)


class JobService:
    def __init__(
        self,
        jobs: JobStore,
        queue: JobQueue,
        bus: EventBus,
        blobs: BlobStore,
        lists: ListService,
        cursors: CursorCodec,
        *,
        stream_lifetime_seconds: float,
        heartbeat_seconds: float,
        lifecycle: Lifecycle | None = None,
        limits: JobLimits | None = None,
    ) -> None:
        self._limits = limits or JobLimits.defaults()
        self._jobs = jobs
        self._queue = queue
        self._bus = bus
        self._blobs = blobs
        self._lists = lists
        self._cursors = cursors
        self._stream_lifetime = stream_lifetime_seconds
        self._heartbeat = heartbeat_seconds
        self._lifecycle = lifecycle or Lifecycle()  # a drain ends event streams as their lifetime does

    async def _unfinished_count(self, owner_id: str) -> int:
        """The owner's queued and running jobs, after marking failed those whose worker was lost for good."""
        jobs = [await self._reconciled(job) for job in await self._jobs.unfinished_of(owner_id)]
        return sum(not job.finished for job in jobs)

    async def _check_quota(self, owner_id: str, quota_bytes: int, *, adding: int = 0) -> None:
        used = await self._blobs.usage(owner_id)
        if used + adding > quota_bytes or (adding == 0 and used >= quota_bytes):
            oldest = await self._blobs.oldest(owner_id)
            expires = (oldest or time.time()) + self._limits.retention_seconds
            raise quota_exceeded(quota_bytes, int(expires - time.time()) + 1)

    async def _precheck(self, principal: Principal, *, files: bool) -> UserLimits:
        """Refuse a caller who is at a limit before any work (reading an upload); `_start` decides atomically."""
        limits = self._limits.of(principal)
        if await self._unfinished_count(principal.user_id) >= limits.jobs.running:
            raise too_many_jobs(Refusal("running", RUNNING_RETRY_AFTER), limits.jobs)
        recent = await self._jobs.jobs_of(principal.user_id, before=None, limit=limits.jobs.per_hour)
        now = datetime.now(UTC)
        if len(recent) >= limits.jobs.per_hour and recent[-1].created_at > now - HOUR:
            raise too_many_jobs(Refusal("per_hour", hourly_retry_after(recent[-1].id, now)), limits.jobs)
        if files:
            await self._check_quota(principal.user_id, limits.storage_bytes)
        return limits

    async def _start(
        self,
        principal: Principal,
        kind: str,
        params: dict[str, str],
        job_id: str | None = None,
        *,
        limits: UserLimits | None = None,
    ) -> JobRecord:
        """Admit the job against its owner's limits, then queue it; if it cannot be queued, it is failed at once."""
        with _unavailable_queue_refuses():
            if limits is None:
                limits = await self._precheck(principal, files=kind == "export")
            job = await self._admit(principal, kind, params, job_id, limits)
        try:
            await self._queue.enqueue(job.id)
        except (RedisError, QueueUnavailable) as exc:
            logger.warning("job %s could not be queued (%s); it is recorded as failed", job.id, exc)
            await self._fail_unqueued(job)
            raise queue_unavailable(recorded=True) from None
        return job

    async def _admit(
        self, principal: Principal, kind: str, params: dict[str, str], job_id: str | None, limits: UserLimits
    ) -> JobRecord:
        job = JobRecord(
            id=job_id or new_list_id(),
            owner_id=principal.user_id,
            trace_context=current_trace_context(),
            kind=kind,
            params={**params, QUOTA_PARAM: str(limits.storage_bytes)},
            stages=IMPORT_STAGES if kind == "import" else EXPORT_STAGES,
            stage=(IMPORT_STAGES if kind == "import" else EXPORT_STAGES)[0],
        )
        refusal = await self._jobs.admit(job, limits.jobs)
        if refusal is not None:
            raise too_many_jobs(refusal, limits.jobs)
        return job

    async def _fail_unqueued(self, job: JobRecord) -> None:
        """Best effort: if even this write fails, the job is failed when next read (the queue never heard of it)."""
        failed = replace(job, state="failed", finished_at=datetime.now(UTC), error=queue_unavailable_problem())
        try:
            await self._jobs.save(failed)
            await announce(self._bus, finished_message(failed))
        except RedisError as exc:
            logger.warning("job %s stays queued until it is next read: %s", job.id, exc)

    async def start_gcide_import(self, principal: Principal, *, overwrite_edited: bool = False) -> JobRecord:
        return await self._start(principal, "import", {"source": "gcide", **_overwrite(overwrite_edited)})

    async def start_upload_import(
        self, principal: Principal, upload: NdjsonUpload, *, overwrite_edited: bool = False
    ) -> JobRecord:
        """Check every line before anything is queued; the valid upload is kept for the worker (in the caller's
        storage quota: an upload that would not fit is refused as soon as it does not)."""
        with _unavailable_queue_refuses():
            limits = await self._precheck(principal, files=True)
        job_id = new_list_id()
        name = upload_blob(principal.user_id, job_id)
        try:
            params = {"source": "upload", **_overwrite(overwrite_edited)}
            await self._receive_upload(principal.user_id, upload, name, limits.storage_bytes)
            return await self._start(principal, "import", params, job_id, limits=limits)
        except BaseException:
            await self._blobs.delete(name)
            raise

    async def _receive_upload(self, owner_id: str, upload: NdjsonUpload, name: str, quota_bytes: int) -> None:
        errors: list[dict[str, object]] = []
        lines = 0
        pending = bytearray()
        async for number, line in upload.lines():
            lines += 1
            try:
                entry = validate_upload_line(line)
                if (reason := unusable_headword(entry.headword)) is not None:
                    raise ValueError(reason)
            except ValidationError as error:
                for item in error.errors(include_url=False, include_input=False):
                    if len(errors) < MAX_REPORTED_LINE_ERRORS:
                        location = [str(part) for part in item["loc"] if part != "__root__"]
                        errors.append(field_error(["body", number, *location], item["msg"], item["type"]))
                continue
            except ValueError as error:
                if len(errors) < MAX_REPORTED_LINE_ERRORS:
                    errors.append(field_error(["body", number], str(error), "value_error"))
                continue
            if not errors:
                pending += line + b"\n"
                if len(pending) >= _UPLOAD_FLUSH_BYTES:
                    await self._check_quota(owner_id, quota_bytes, adding=len(pending))
                    await self._blobs.append(name, bytes(pending))
                    pending.clear()
        if errors or not lines:
            detail = (
                f"{len(errors)} problem(s) in the upload (the first {MAX_REPORTED_LINE_ERRORS} are listed); "
                "nothing was imported."
                if errors
                else "The upload holds no entries."
            )
            raise validation_problem(detail, *(errors or [field_error(["body"], "No lines.", "empty")]))
        if pending:
            await self._check_quota(owner_id, quota_bytes, adding=len(pending))
            await self._blobs.append(name, bytes(pending))

    async def start_export(self, principal: Principal, source: str, list_id: str | None) -> JobRecord:
        if source == "dictionary":
            if principal.role < Role.ADMIN:
                raise ProblemError(403, "Only admins export the whole dictionary.", slug="forbidden", title="Forbidden")
            return await self._start(principal, "export", {"source": "dictionary"})
        if list_id is None:
            raise validation_problem(
                "`list_id` is required to export a word list.", field_error(["body", "list_id"], "Required.", "missing")
            )
        await self._lists.readable(list_id, principal)
        return await self._start(principal, "export", {"source": "list", "list_id": list_id})

    async def job_record(self, job_id: str) -> JobRecord | None:
        """The job whoever asks (callers check ownership themselves)."""
        return await self._jobs.get(job_id)

    async def job(self, principal: Principal, job_id: str) -> JobRecord:
        job = await self._jobs.get(job_id)
        if job is None or job.owner_id != principal.user_id:
            raise _not_found(job_id)
        return await self._reconciled(job)

    async def _reconciled(self, job: JobRecord) -> JobRecord:
        """A job whose worker vanished and that the queue gave up on is marked failed (it would never end)."""
        if job.finished:
            return job
        quiet_since = job.heartbeat_at or job.created_at
        if datetime.now(UTC) - quiet_since < timedelta(seconds=3 * self._heartbeat):
            return job
        if not await self._queue.lost(job.id):
            return job
        failed = replace(
            job,
            state="failed",
            finished_at=datetime.now(UTC),
            error=worker_lost_problem(
                "The worker running this job stopped and its retries are used up; start the job again."
            ),
        )
        await self._jobs.save(failed)
        await announce(self._bus, finished_message(failed))
        return failed

    async def jobs_of(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> tuple[list[JobRecord], str | None]:
        page = await Keyset(self._cursors, f"jobs:{principal.user_id}").read(
            cursor,
            limit,
            lambda before, count: self._jobs.jobs_of(principal.user_id, before=before, limit=count),
            lambda job: job.id,
        )
        return [await self._reconciled(job) for job in page.rows], page.next_cursor

    async def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        job = await self.job(principal, job_id)
        if job.finished:
            if job.state == "cancelled":
                return job
            raise ProblemError(409, f"The job already {job.state}.", slug="conflict", title="Conflict")
        cancelled = await self._jobs.request_cancel(job_id)
        if cancelled is None:
            raise _not_found(job_id)
        return cancelled

    async def delete(self, principal: Principal, job_id: str) -> None:
        """Forget one of the principal's finished jobs with its events and files; a job not finished is a 409."""
        job = await self.job(principal, job_id)
        if not job.finished or not await self._jobs.remove_finished(job_id):
            raise ProblemError(
                409,
                f"The job is {job.state}: cancel it (POST /api/v1/jobs/{job_id}/cancel) and delete it once it has "
                "ended.",
                slug="conflict",
                title="Conflict",
            )
        await self._bus.discard(job_topic(job_id))
        for name in (result_blob(job.owner_id, job_id), upload_blob(job.owner_id, job_id)):
            await self._blobs.delete(name)

    async def result(self, principal: Principal, job_id: str) -> tuple[JobRecord, AsyncIterator[bytes]]:
        job = await self.job(principal, job_id)
        if job.kind != "export":
            raise ProblemError(404, "Only export jobs have a file.")
        if job.state != "succeeded":
            raise ProblemError(
                409,
                f"The export is {job.state}; its file is ready once it succeeded.",
                slug="conflict",
                title="Conflict",
            )
        name = result_blob(job.owner_id, job.id)
        if not await self._blobs.exists(name) and (job.result or {}).get("lines"):
            raise ProblemError(404, "The export's file has expired; start the export again.")
        return job, self._blobs.read(name)

    async def events(self, job: JobRecord, last_event_id: str | None) -> AsyncIterator[ServerSentEvent]:
        """`job.stages` first (unless resuming), then the kept history and new events, until `job.finished` or the
        stream's maximum lifetime (then `stream.reconnect`, with the `retry` hint)."""
        deadline = time.monotonic() + self._stream_lifetime
        if last_event_id is None:
            yield ServerSentEvent(data=stages_message(job).model_dump_json(), event="job.stages", id="0-0")
        follower = self._bus.follow(job_topic(job.id), after=last_event_id)
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    if job.finished:
                        # Its kept history, then its end: read even while this instance drains (it is over within
                        # a second), never replaced by the summary below while the history is there to be read.
                        event = await asyncio.wait_for(
                            anext(follower), timeout=min(max(remaining, 0.001), _FINISHED_HISTORY_WAIT)
                        )
                    else:
                        event = await self._lifecycle.wait_for(anext(follower), seconds=max(remaining, 0.001))
                except TimeoutError:
                    if job.finished:  # the history was trimmed or expired: answer from the job itself
                        event_id = f"{int(time.time() * 1000)}-0"
                        summary = finished_message(job).model_copy(update={"event_id": event_id})
                        yield ServerSentEvent(data=summary.model_dump_json(), event="job.finished", id=event_id)
                        return
                    reconnect = StreamReconnect(reconnect_after_ms=1000)
                    yield ServerSentEvent(data=reconnect.model_dump_json(), event="stream.reconnect", retry=1000)
                    return
                yield _sse(event)
                if event.name == "job.finished":
                    return
        finally:
            with contextlib.suppress(Exception):
                await follower.aclose()  # type: ignore[attr-defined]
