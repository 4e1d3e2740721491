"""`JobsApi` implementation: jobs as HTTP resources (202 + Location), their event stream and their file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from lexica._generated import models
from lexica._generated.interfaces import JobsApi
from lexica.jobs.records import JobRecord
from lexica.jobs.service import JobService
from lexica.platform.binding import NdjsonUpload
from lexica.platform.ndjson import ndjson_lines
from lexica.platform.pagination import next_page_link
from lexica.platform.reply import EventStream, Reply, Serialised, Streamed
from lexica.platform.security import Principal

JOBS_PATH = "/api/v1/jobs"
PRIVATE_NO_STORE = {"Cache-Control": "private, no-store"}

BodyT = TypeVar("BodyT", bound=BaseModel)


def job_href(job_id: str) -> str:
    return f"{JOBS_PATH}/{job_id}"


def job_model(job: JobRecord) -> models.Job:
    return models.Job(
        id=job.id,
        kind=models.JobKind(job.kind),
        state=models.JobState(job.state),
        stages=list(job.stages),
        progress=models.JobProgress(stage=job.stage, done=job.done, total=job.total),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
        result=dict(job.result) if job.result is not None else None,
        error=_problem(job.error),
        href=job_href(job.id),
        events_href=f"{job_href(job.id)}/events",
        result_href=f"{job_href(job.id)}/result" if job.kind == "export" and job.state == "succeeded" else None,
    )


def _problem(error: Mapping[str, Any] | None) -> models.Problem | None:
    """A failed job's error as a problem document. The members it lacks (a job's problem has no request, hence no
    `instance` or `request_id`) stay unset, so that `_serialised` omits them: the spec's Problem has no null members."""
    if error is None:
        return None
    return models.Problem.model_validate({name: value for name, value in error.items() if value is not None})


def _serialised(body: BodyT) -> Serialised[BodyT]:
    """The body without the members never set. Every field of a job (and of a page of jobs) is set, null when it
    has no value, as the spec requires; only a job error's absent problem members are left out."""
    return Serialised(body.model_dump_json(exclude_unset=True).encode())


def _accepted(job: JobRecord) -> Reply[models.Job]:
    return Reply(_serialised(job_model(job)), status=202, headers={"Location": job_href(job.id)})


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[Serialised[models.ExportLine]]:
    """The file's lines as they are read."""
    async for line in ndjson_lines(chunks):
        if line:
            yield Serialised(line)


class JobsEndpoints(JobsApi):
    def __init__(self, service: JobService) -> None:
        self._service = service

    async def start_import(
        self, *, principal: Principal, body: models.ImportRequest | NdjsonUpload, overwrite_edited: bool
    ) -> Reply[models.Job]:
        if isinstance(body, NdjsonUpload):
            started = await self._service.start_upload_import(principal, body, overwrite_edited=overwrite_edited)
            return _accepted(started)
        return _accepted(await self._service.start_gcide_import(principal, overwrite_edited=overwrite_edited))

    async def start_export(self, *, principal: Principal, body: models.ExportRequest) -> Reply[models.Job]:
        return _accepted(await self._service.start_export(principal, body.source.value, body.list_id))

    async def list_jobs(self, *, principal: Principal, limit: int, cursor: str | None) -> Reply[models.JobPage]:
        jobs, next_cursor = await self._service.jobs_of(principal, limit=limit, cursor=cursor)
        body = models.JobPage(
            items=[job_model(job) for job in jobs],
            next_cursor=next_cursor,
            links=models.PageLinks(next=next_page_link(JOBS_PATH, limit, next_cursor)),
        )
        return Reply(_serialised(body), headers=PRIVATE_NO_STORE)

    async def get_job(self, *, principal: Principal, job_id: str) -> Reply[models.Job]:
        return Reply(_serialised(job_model(await self._service.job(principal, job_id))), headers=PRIVATE_NO_STORE)

    async def cancel_job(self, *, principal: Principal, job_id: str) -> Reply[models.Job]:
        job = await self._service.cancel(principal, job_id)
        return Reply(_serialised(job_model(job)), status=200 if job.finished else 202)

    async def delete_job(self, *, principal: Principal, job_id: str) -> Reply[None]:
        await self._service.delete(principal, job_id)
        return Reply.empty(204)

    async def stream_job_events(
        self, *, principal: Principal, job_id: str, last_event_id: str | None
    ) -> Reply[models.JobServerSentEvent]:
        job = await self._service.job(principal, job_id)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return Reply(EventStream(self._service.events(job, last_event_id)), headers=headers)

    async def get_job_result(self, *, principal: Principal, job_id: str) -> Reply[models.ExportLine]:
        job, chunks = await self._service.result(principal, job_id)
        headers = {"Content-Disposition": f'attachment; filename="lexica-export-{job.id}.ndjson"'}
        return Reply(Streamed(_lines(chunks)), headers=headers)
