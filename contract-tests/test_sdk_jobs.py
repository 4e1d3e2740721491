"""The SDK's job methods, sync and async, against a real uvicorn server.

The server runs jobs in-process one at a time (`LEXICA_JOB_CONCURRENCY=1`) and ends every event stream after a
second (`LEXICA_EVENT_STREAM_LIFETIME_SECONDS=1`), so following a job that runs for seconds, or waits for
another, means reconnecting; a transport also cuts a stream half-way through a chunk, as a dropped connection
would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import run_live_server, seed_database
from seed import SAMPLE_ENTRIES

from lexica.words.keys import lookup_key
from lexica_client import (
    AsyncLexica,
    ConflictError,
    Entry,
    ForbiddenError,
    Job,
    JobEvent,
    Lexica,
    ListExportLine,
    NotFoundError,
    ValidationError,
)
from lexica_client._api.api.users import create_api_key
from lexica_client.events import ImportResult, JobFinished, JobProgress, JobStages
from lexica_client.models import ApiKeyCreated, ApiKeyRequest

ADMIN_EMAIL = "sdk-jobs-admin@lexica.test"
PASSWORD = "Quiet-Lantern-47-Orchard"
# Enough for the import to outlive a stream (30,000 entries take under a second here, with the upload).
IMPORTED = 100_000
EVENTS_SUFFIX = "/events"


def _entry(headword: str, definition: str = "A generated entry.") -> dict[str, Any]:
    section = {
        "part_of_speech": "n.",
        "etymology": None,
        "definitions": [{"text": definition, "examples": []}],
        "compounds": None,
        "synonyms": None,
    }
    return {"headword": headword, "parts_of_speech": [section]}


def _generated_entries(count: int) -> Iterator[dict[str, Any]]:
    """A generator, so the upload is produced while it is sent."""
    for number in range(count):
        yield _entry(f"sdk job {number:05d}", f"Generated entry number {number}.")


def _api_key(base_url: str, email: str) -> str:
    with Lexica(base_url, timeout=10.0) as lexica:
        lexica.sign_in(email, PASSWORD)
        response = create_api_key.sync_detailed(client=lexica.api_client, body=ApiKeyRequest(name="sdk job tests"))
    assert isinstance(response.parsed, ApiKeyCreated)
    return response.parsed.key


def _new_reader(base_url: str) -> str:
    email = f"sdk-jobs-{uuid.uuid4().hex[:12]}@example.com"
    registered = httpx.post(f"{base_url}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    return _api_key(base_url, email)


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = seed_database(tmp_path_factory.mktemp("sdk-jobs-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
        "LEXICA_FIRST_ADMIN_PASSWORD": PASSWORD,
        "LEXICA_SECRET_KEY": "sdk-jobs-secret-key-long-enough-for-every-check",
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_EVENT_STREAM_LIFETIME_SECONDS": "1",
        "LEXICA_JOB_CONCURRENCY": "1",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("sdk-jobs-server"), extra_env=env) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def admin_key(jobs_server: str) -> str:
    return _api_key(jobs_server, ADMIN_EMAIL)


@pytest.fixture(scope="module")
def reader_key(jobs_server: str) -> str:
    return _new_reader(jobs_server)


@pytest.fixture
def admin(jobs_server: str, admin_key: str) -> Iterator[Lexica]:
    with Lexica(jobs_server, api_key=admin_key, timeout=30.0) as client:
        yield client


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
    assert finished.result == ImportResult(inserted=IMPORTED, updated=0, unchanged=0, skipped=0)
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
    assert admin.lookup("sdk job 12345").parts_of_speech[0].definitions[0].text == "Generated entry number 12345."


async def _collect(events: AsyncIterator[JobEvent]) -> list[JobEvent]:
    return [event async for event in events]


async def _entries_later() -> AsyncIterator[dict[str, Any]]:
    for headword in ("queued one", "queued two", "queued three"):
        await asyncio.sleep(0)
        yield _entry(headword)


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
    assert finished.result == ImportResult(inserted=3, updated=0, unchanged=0, skipped=0)
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


def test_list_export_downloads_every_word_with_its_entry(jobs_server: str, reader_key: str) -> None:
    headwords = ["zebra", "apple", "rock 'n' roll", "24/7"]
    with Lexica(jobs_server, api_key=reader_key, timeout=10.0) as reader:
        created = reader.create_list("Export me")
        reader.add_words(created.value.id, headwords, etag=created.etag)
        job = reader.wait_for_job(reader.start_list_export(created.value.id).id, timeout=30.0)
        lines = list(reader.download_export(job.id))

    assert job.state == "succeeded"
    assert job.result is not None
    assert job.result["lines"] == len(headwords)
    assert job.result_href == f"/api/v1/jobs/{job.id}/result"
    assert all(isinstance(line, ListExportLine) for line in lines)
    assert [line.headword for line in lines] == sorted(headwords, key=lookup_key)
    assert all(isinstance(line, ListExportLine) and line.entry is not None for line in lines)


async def test_dictionary_export_downloads_every_entry(big_import: FollowedImport, async_admin: AsyncLexica) -> None:
    job = await async_admin.wait_for_job((await async_admin.start_dictionary_export()).id, timeout=60.0)
    headwords = [line.headword async for line in async_admin.adownload_export(job.id) if isinstance(line, Entry)]

    assert job.state == "succeeded"
    assert job.result is not None
    assert len(headwords) == job.result["lines"] >= IMPORTED + len(SAMPLE_ENTRIES)
    assert headwords == sorted(headwords, key=lookup_key)
    assert "sdk job 29999" in headwords


async def test_reader_may_not_import_or_export_the_dictionary(jobs_server: str, reader_key: str) -> None:
    async with AsyncLexica(jobs_server, api_key=reader_key, timeout=10.0) as reader:
        with pytest.raises(ForbiddenError):
            await reader.start_dictionary_export()
        with pytest.raises(ForbiddenError):
            await reader.start_gcide_import()
        with pytest.raises(ForbiddenError):
            await reader.import_entries([_entry("forbidden")])


def test_bad_upload_raises_validation_error_naming_the_line_and_imports_nothing(admin: Lexica) -> None:
    entries = [_entry("upload good one"), {"headword": "upload bad"}, _entry("upload good two")]

    with pytest.raises(ValidationError) as raised:
        admin.import_entries(entries)

    assert [error.location[:2] for error in raised.value.errors] == [["body", 2]]
    with pytest.raises(NotFoundError):
        admin.lookup("upload good one")


def test_import_retried_with_its_idempotency_key_starts_one_job(admin: Lexica) -> None:
    key = uuid.uuid4().hex
    first = admin.import_entries([_entry("idempotent one")], idempotency_key=key)
    again = admin.import_entries(iter([_entry("idempotent one")]), idempotency_key=key)

    assert again.id == first.id
    assert admin.wait_for_job(first.id, timeout=30.0).state == "succeeded"


def test_my_jobs_pages_the_callers_jobs_newest_first(jobs_server: str, admin: Lexica) -> None:
    with Lexica(jobs_server, api_key=_new_reader(jobs_server), timeout=10.0) as reader:
        created = reader.create_list("Mine")
        started = [reader.start_list_export(created.value.id).id for _ in range(3)]
        first_page = reader.my_jobs(limit=2)
        every = [job.id for job in reader.iter_my_jobs(page_size=2)]
        for job_id in started:
            reader.wait_for_job(job_id, timeout=30.0)

    assert [job.id for job in first_page.items] == started[::-1][:2]
    assert first_page.next_cursor is not None
    assert every == started[::-1]
    with pytest.raises(NotFoundError):
        admin.get_job(started[0])  # another user's job


async def test_async_my_jobs_and_cancel_of_a_finished_job(jobs_server: str, reader_key: str) -> None:
    async with AsyncLexica(jobs_server, api_key=reader_key, timeout=10.0) as reader:
        created = await reader.create_list("Async jobs")
        job = await reader.wait_for_job((await reader.start_list_export(created.value.id)).id, timeout=30.0)
        mine = [listed.id async for listed in reader.aiter_my_jobs(page_size=1)]
        with pytest.raises(ConflictError):
            await reader.cancel_job(job.id)

    assert mine[0] == job.id


# The event-stream reader on its own, over canned streams (no server).


def _sse_response(chunks: list[bytes], *, fail: bool = False) -> httpx.Response:
    def stream() -> Iterator[bytes]:
        yield from chunks
        if fail:
            raise httpx.ReadError("connection dropped")

    return httpx.Response(200, headers={"Content-Type": "text/event-stream; charset=utf-8"}, content=stream())


JOB_ID = "5f0c6b8e9a2d4c1b8e7f6a5d4c3b2a19"
STAGES = b'{"job_id":"%s","kind":"export","state":"running","stages":["writing"],"done":0,"total":2}' % JOB_ID.encode()
PROGRESS = (
    b'{"type":"job.progress","topic":"job:%s","event_id":"1-0","job_id":"%s","kind":"export",'
    b'"state":"running","stage":"writing","done":1,"total":2,"occurred_at":"2025-11-23T18:00:00Z"}'
) % (JOB_ID.encode(), JOB_ID.encode())
FINISHED = (
    b'{"type":"job.finished","topic":"job:%s","event_id":"2-0","job_id":"%s","kind":"export",'
    b'"state":"succeeded","done":2,"total":2,"result":{"lines":2},"error":null,"occurred_at":"2025-11-23T18:00:01Z"}'
) % (JOB_ID.encode(), JOB_ID.encode())


def test_event_stream_split_anywhere_with_crlf_comments_and_unknown_events_parses_once() -> None:
    split = PROGRESS.index(b',"state"') + 1  # a payload over two `data:` lines, joined by a newline
    body = (
        b": ping\r\n\r\nretry: 0\r\nid: 0-0\r\nevent: job.stages\r\ndata: " + STAGES + b"\r\n\r\n"
        b"event: job.unknown\r\ndata: {}\r\n\r\n"
        b"id: 1-0\r\nevent: job.progress\r\ndata: " + PROGRESS[:split] + b"\r\ndata: " + PROGRESS[split:] + b"\r\n\r\n"
        b"id: 1-0\r\nevent: job.progress\r\ndata: " + PROGRESS + b"\r\n\r\n"  # a duplicate
        b'event: stream.reconnect\r\ndata: {"reconnect_after_ms":0}\r\n\r\n'
    )
    second = b"id: 2-0\nevent: job.finished\ndata: " + FINISHED + b"\n\n"
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 1:
            return _sse_response([body[i : i + 1] for i in range(len(body))])  # one byte at a time
        return _sse_response([second])

    with Lexica("http://lexica.test", transport=httpx.MockTransport(handler)) as lexica:
        events = list(lexica.follow_job(JOB_ID))

    assert [type(event) for event in events] == [JobStages, JobProgress, JobFinished]
    assert [request.headers.get("Last-Event-ID") for request in requests] == [None, "1-0"]
    assert requests[0].headers["Accept"].startswith("text/event-stream")


def test_connection_drops_are_retried_a_bounded_number_of_times() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        first = b"retry: 0\nid: 0-0\nevent: job.stages\ndata: " + STAGES + b"\n\n"
        return _sse_response([first] if len(requests) == 1 else [b"retry: 0\n\n"], fail=True)

    with Lexica("http://lexica.test", transport=httpx.MockTransport(handler)) as lexica:
        events: list[JobEvent] = []
        with pytest.raises(httpx.ReadError):
            events.extend(lexica.follow_job(JOB_ID, reconnect_attempts=3))

    assert [type(event) for event in events] == [JobStages]
    assert len(requests) == 1 + 3  # the first stream, then as many reconnections as allowed
    assert {request.headers.get("Last-Event-ID") for request in requests[1:]} == {"0-0"}


def test_reconnect_attempts_count_only_failures_in_a_row_and_a_cut_event_comes_whole() -> None:
    finished = b"id: 2-0\nevent: job.finished\ndata: " + FINISHED + b"\n\n"
    streams = [
        b"retry: 0\nid: 0-0\nevent: job.stages\ndata: " + STAGES + b"\n\n",
        b"id: 1-0\nevent: job.progress\ndata: " + PROGRESS + b"\n\n" + finished[: len(finished) // 2],  # then cut
        finished,
    ]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return _sse_response([streams[len(requests) - 1]], fail=len(requests) < len(streams))

    with Lexica("http://lexica.test", transport=httpx.MockTransport(handler)) as lexica:
        events = list(lexica.follow_job(JOB_ID, reconnect_attempts=1))

    assert [type(event) for event in events] == [JobStages, JobProgress, JobFinished]
    assert [request.headers.get("Last-Event-ID") for request in requests] == [None, "0-0", "1-0"]
