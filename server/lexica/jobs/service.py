"""Jobs as resources: who may start, see and cancel them; uploads checked line by line; progress as an event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sse_starlette import ServerSentEvent

from lexica.jobs.blobs import BlobStore
from lexica.jobs.queue import JobQueue
from lexica.jobs.records import JobRecord, JobStore
from lexica.jobs.runner import (
    EXPORT_STAGES,
    IMPORT_STAGES,
    finished_payload,
    job_topic,
    result_blob,
    stages_payload,
    upload_blob,
    validate_upload_line,
)
from lexica.lists.service import ListService, new_list_id
from lexica.platform.binding import NdjsonUpload
from lexica.platform.events import Event, EventBus
from lexica.platform.pagination import CursorCodec
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.security import Principal, Role
from lexica.words.keys import lookup_key

MAX_REPORTED_LINE_ERRORS = 20
_UPLOAD_FLUSH_BYTES = 1 << 20
_FINISHED_HISTORY_WAIT = 1.0  # a finished job's stream ends if its kept history has no terminal event


def _not_found(job_id: str) -> ProblemError:
    return ProblemError(404, f"No job {job_id!r}.")


def _sse(event: Event) -> ServerSentEvent:
    payload = {**event.payload, "event_id": event.id} if event.name != "job.stages" else dict(event.payload)
    return ServerSentEvent(data=json.dumps(payload, separators=(",", ":")), event=event.name, id=event.id)


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
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._bus = bus
        self._blobs = blobs
        self._lists = lists
        self._cursors = cursors
        self._stream_lifetime = stream_lifetime_seconds
        self._heartbeat = heartbeat_seconds

    async def _start(
        self, principal: Principal, kind: str, params: dict[str, str], job_id: str | None = None
    ) -> JobRecord:
        job = JobRecord(
            id=job_id or new_list_id(),
            owner_id=principal.user_id,
            kind=kind,
            params=params,
            stages=IMPORT_STAGES if kind == "import" else EXPORT_STAGES,
            stage=(IMPORT_STAGES if kind == "import" else EXPORT_STAGES)[0],
        )
        await self._jobs.create(job)
        await self._queue.enqueue(job.id)
        return job

    async def start_gcide_import(self, principal: Principal) -> JobRecord:
        return await self._start(principal, "import", {"source": "gcide"})

    async def start_upload_import(self, principal: Principal, upload: NdjsonUpload) -> JobRecord:
        """Check every line before anything is queued; the valid upload is kept for the worker."""
        job_id = new_list_id()
        name = upload_blob(job_id)
        errors: list[dict[str, object]] = []
        lines = 0
        pending = bytearray()
        async for number, line in upload.lines():
            lines += 1
            try:
                entry = validate_upload_line(line)
                if not lookup_key(entry.headword):
                    raise ValueError("The headword is empty once spaces are removed.")
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
                    await self._blobs.append(name, bytes(pending))
                    pending.clear()
        if errors or not lines:
            await self._blobs.delete(name)
            detail = (
                f"{len(errors)} problem(s) in the upload (the first {MAX_REPORTED_LINE_ERRORS} are listed); "
                "nothing was imported."
                if errors
                else "The upload holds no entries."
            )
            raise validation_problem(detail, *(errors or [field_error(["body"], "No lines.", "empty")]))
        if pending:
            await self._blobs.append(name, bytes(pending))
        return await self._start(principal, "import", {"source": "upload"}, job_id)

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
            error={
                "type": "/problems/worker-lost",
                "title": "Worker Lost",
                "status": 500,
                "detail": "The worker running this job stopped and its retries are used up; start the job again.",
            },
        )
        await self._jobs.save(failed)
        await self._bus.publish(job_topic(job.id), "job.finished", finished_payload(failed))
        return failed

    async def jobs_of(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> tuple[list[JobRecord], str | None]:
        scope = f"jobs:{principal.user_id}"
        before = self._cursors.decode(scope, cursor) if cursor is not None else None
        jobs = await self._jobs.jobs_of(principal.user_id, before=before, limit=limit + 1)
        next_cursor = self._cursors.encode(scope, jobs[limit - 1].id) if len(jobs) > limit else None
        return [await self._reconciled(job) for job in jobs[:limit]], next_cursor

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
        if not await self._blobs.exists(result_blob(job.id)) and (job.result or {}).get("lines"):
            raise ProblemError(404, "The export's file has expired; start the export again.")
        return job, self._blobs.read(result_blob(job.id))

    async def events(self, job: JobRecord, last_event_id: str | None) -> AsyncIterator[ServerSentEvent]:
        """`job.stages` first (unless resuming), then the kept history and new events, until `job.finished` or the
        stream's maximum lifetime (then `stream.reconnect`, with the `retry` hint)."""
        deadline = time.monotonic() + self._stream_lifetime
        if last_event_id is None:
            yield ServerSentEvent(
                data=json.dumps(stages_payload(job), separators=(",", ":")), event="job.stages", id="0-0"
            )
        follower = self._bus.follow(job_topic(job.id), after=last_event_id)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if job.finished:
                    remaining = min(remaining, _FINISHED_HISTORY_WAIT)
                try:
                    event = await asyncio.wait_for(anext(follower), timeout=max(remaining, 0.001))
                except TimeoutError:
                    if job.finished:  # the history was trimmed or expired: answer from the job itself
                        event_id = f"{int(time.time() * 1000)}-0"
                        payload = {**finished_payload(job), "event_id": event_id}
                        yield ServerSentEvent(
                            data=json.dumps(payload, separators=(",", ":")), event="job.finished", id=event_id
                        )
                        return
                    yield ServerSentEvent(
                        data=json.dumps({"reconnect_after_ms": 1000}), event="stream.reconnect", retry=1000
                    )
                    return
                yield _sse(event)
                if event.name == "job.finished":
                    return
        finally:
            with contextlib.suppress(Exception):
                await follower.aclose()  # type: ignore[attr-defined]
