"""Following the SDK's jobs through their event streams, sync and async, against a real uvicorn server.

The server (`jobs_server` in conftest.py) runs jobs in-process one at a time and ends every event stream after a
second, so following a job that runs for seconds, or waits for another, means reconnecting; a transport also cuts
a stream half-way through a chunk, as a dropped connection would. Every test runs after a 100,000-entry import.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sdk_helpers import entry_json
from seed import SAMPLE_ENTRIES

from lexica.words.keys import lookup_key
from lexica_client import AsyncLexica, ConflictError, Entry, Job, JobEvent, Lexica
from lexica_client.events import ImportResult, JobFinished, JobProgress, JobStages

# Enough for the import to outlive a stream (30,000 entries take under a second here, with the upload).
IMPORTED = 100_000
EVENTS_SUFFIX = "/events"


def _generated_entries(count: int) -> Iterator[dict[str, Any]]:
    """A generator, so the upload is produced while it is sent."""
    for number in range(count):
        yield entry_json(f"sdk job {number:05d}", f"Generated entry number {number}.")


@pytest.fixture
async def async_admin(jobs_server: str, admin_key: str) -> AsyncIterator[AsyncLexica]:
    async with AsyncLexica(jobs_server, api_key=admin_key, timeout=30.0) as client:
        yield client


CUT_AFTER_BYTES = 3000  # a dozen events; the cut falls inside one


class _CutStream(httpx.SyncByteStream):
    """Fails as a dropped connection does after `CUT_AFTER_BYTES`, while its transport has cuts left."""

    def __init__(self, inner: httpx.SyncByteStream, transport: _CuttingTransport) -> None:
        self._inner = inner
        self._transport = transport

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            if self._transport.cuts_left and received + len(chunk) >= CUT_AFTER_BYTES:
                self._transport.cuts_left -= 1
                yield chunk[: CUT_AFTER_BYTES - received]
                raise httpx.ReadError("connection cut by the test")
            received += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _CuttingTransport(httpx.BaseTransport):
    """Records the `Last-Event-ID` of every event-stream request, and cuts the first `cuts` streams that get long."""

    def __init__(self, cuts: int) -> None:
        self._inner = httpx.HTTPTransport()
        self.cuts_left = cuts
        self.resumed_after: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not request.url.path.endswith(EVENTS_SUFFIX):
            return response
        self.resumed_after.append(request.headers.get("Last-Event-ID"))
        assert isinstance(response.stream, httpx.SyncByteStream)
        stream = _CutStream(response.stream, self)
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    def close(self) -> None:
        self._inner.close()


class _FirstChunkStream(httpx.AsyncByteStream):
    """Gives the first chunk, then fails as a dropped connection does."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
            raise httpx.ReadError("connection cut by the test")

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncCuttingTransport(httpx.AsyncBaseTransport):
    """Records the path and `Last-Event-ID` of every event-stream request; cuts each job's first stream after
    its first chunk."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.streams: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        path = request.url.path
        if not path.endswith(EVENTS_SUFFIX):
            return response
        first = all(seen != path for seen, _ in self.streams)
        self.streams.append((path, request.headers.get("Last-Event-ID")))
        if not first:
            return response
        assert isinstance(response.stream, httpx.AsyncByteStream)
        stream = _FirstChunkStream(response.stream)
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class FollowedImport:
    events: list[JobEvent]
    resumed_after: list[str | None]
    job: Job
    seconds: float


@pytest.fixture(scope="module")
def big_import(jobs_server: str, admin_key: str) -> FollowedImport:
    """Generated entries uploaded and their import followed; later tests export them."""
    transport = _CuttingTransport(cuts=3)
    with Lexica(jobs_server, api_key=admin_key, transport=transport, timeout=30.0) as lexica:
        started = time.perf_counter()
        job = lexica.import_entries(_generated_entries(IMPORTED))
        events = list(lexica.follow_job(job.id))
        seconds = time.perf_counter() - started
        final = lexica.get_job(job.id)
    assert transport.cuts_left == 0
    return FollowedImport(events, transport.resumed_after, final, seconds)


def test_followed_import_yields_stages_progress_and_one_finished(big_import: FollowedImport) -> None:
    stages, *progress, finished = big_import.events

    assert isinstance(stages, JobStages)
    assert [stage.root for stage in stages.stages] == ["reading", "writing", "indexing"]
    assert all(isinstance(event, JobProgress) for event in progress)
    assert isinstance(finished, JobFinished)
    assert finished.state == "succeeded"
    assert finished.result == ImportResult(inserted=IMPORTED, updated=0, unchanged=0, skipped=0, skipped_edited=0)
    writing = [event for event in progress if isinstance(event, JobProgress) and event.stage == "writing"]
    assert [event.done for event in writing] == sorted(event.done for event in writing)
    assert writing[-1].done == IMPORTED
    assert {event.total for event in writing} == {IMPORTED}
    assert big_import.job.state == "succeeded"
    assert big_import.job.progress.done == IMPORTED


def test_followed_import_resumes_after_each_cut_without_a_duplicate(big_import: FollowedImport) -> None:
    event_ids = [event.event_id for event in big_import.events if not isinstance(event, JobStages)]
    resumed_after = big_import.resumed_after

    assert len(event_ids) == len(set(event_ids))
    assert resumed_after[0] is None
    # Three streams were cut (by the transport), and any may have ended after its second (the server).
    assert len(resumed_after) >= 4, f"{big_import.seconds:.1f} s, {len(resumed_after)} streams"
    # Every reconnection resumed after an event the client had received, never going back.
    received = ["0-0", *event_ids]  # "0-0" is the id of `job.stages`
    positions = [received.index(event_id) for event_id in resumed_after[1:] if event_id is not None]
    assert len(positions) == len(resumed_after) - 1
    assert positions == sorted(positions)


def test_imported_entries_can_be_looked_up(big_import: FollowedImport, admin: Lexica) -> None:
    assert admin.lookup("sdk job 12345").value.parts_of_speech[0].definitions[0].text == "Generated entry number 12345."


async def _collect(events: AsyncIterator[JobEvent]) -> list[JobEvent]:
    return [event async for event in events]


async def _entries_later() -> AsyncIterator[dict[str, Any]]:
    for headword in ("queued one", "queued two", "queued three"):
        await asyncio.sleep(0)
        yield entry_json(headword)


async def test_job_queued_behind_another_still_gets_all_its_events(
    big_import: FollowedImport, jobs_server: str, admin_key: str
) -> None:
    transport = _AsyncCuttingTransport()
    async with AsyncLexica(jobs_server, api_key=admin_key, transport=transport, timeout=30.0) as lexica:
        export = await lexica.start_dictionary_export()
        queued = await lexica.import_entries(_entries_later())
        export_events, queued_events = await asyncio.gather(
            _collect(lexica.afollow_job(export.id)), _collect(lexica.afollow_job(queued.id))
        )
        export_job, queued_job = await lexica.get_job(export.id), await lexica.get_job(queued.id)

    queued_streams = [last for path, last in transport.streams if path == f"/api/v1/jobs/{queued.id}/events"]
    assert queued_streams[:2] == [None, "0-0"]  # cut while it waited, its stream resumed after `job.stages`
    stages, *progress, finished = queued_events
    assert isinstance(stages, JobStages)
    assert stages.state == "queued"
    assert [event.stage for event in progress if isinstance(event, JobProgress)] == [
        "reading",
        "writing",
        "writing",
        "indexing",
    ]
    assert isinstance(finished, JobFinished)
    assert finished.state == "succeeded"
    assert finished.result == ImportResult(inserted=3, updated=0, unchanged=0, skipped=0, skipped_edited=0)
    assert isinstance(export_events[-1], JobFinished)
    assert export_job.finished_at is not None
    assert queued_job.started_at is not None
    assert queued_job.started_at >= export_job.finished_at  # it really waited for the export


def test_cancelled_job_ends_cancelled(big_import: FollowedImport, admin: Lexica) -> None:
    job = admin.start_dictionary_export()
    events: list[JobEvent] = []
    cancelling: Job | None = None
    for event in admin.follow_job(job.id):
        events.append(event)
        if isinstance(event, JobProgress) and event.done > 0 and cancelling is None:
            cancelling = admin.cancel_job(job.id)

    assert cancelling is not None
    assert cancelling.cancel_requested
    finished = events[-1]
    assert isinstance(finished, JobFinished)
    assert finished.state == "cancelled"
    assert (finished.result, finished.error) == (None, None)
    assert finished.total is not None
    assert finished.done < finished.total
    cancelled = admin.get_job(job.id)
    assert cancelled.state == "cancelled"
    assert cancelled.result_href is None
    with pytest.raises(ConflictError):
        list(admin.download_export(job.id))


def test_wait_for_job_raises_timeout_error_while_the_job_is_queued(
    big_import: FollowedImport, admin: Lexica, jobs_server: str, reader_key: str
) -> None:
    running = admin.start_dictionary_export()
    with Lexica(jobs_server, api_key=reader_key, timeout=10.0) as reader:
        created = reader.create_list("Queued")
        queued = reader.start_list_export(created.value.id)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            reader.wait_for_job(queued.id, timeout=0.3)
        waited = time.monotonic() - started
        admin.cancel_job(running.id)
        done = reader.wait_for_job(queued.id, timeout=30.0)

    assert 0.3 <= waited < 2.0
    assert done.state == "succeeded"
    assert admin.wait_for_job(running.id).state == "cancelled"


async def test_dictionary_export_downloads_every_entry(big_import: FollowedImport, async_admin: AsyncLexica) -> None:
    job = await async_admin.wait_for_job((await async_admin.start_dictionary_export()).id, timeout=60.0)
    headwords = [line.headword async for line in async_admin.adownload_export(job.id) if isinstance(line, Entry)]

    assert job.state == "succeeded"
    assert job.result is not None
    assert len(headwords) == job.result["lines"] >= IMPORTED + len(SAMPLE_ENTRIES)
    assert headwords == sorted(headwords, key=lookup_key)
    assert "sdk job 29999" in headwords
