"""Jobs (imports and exports): the methods `Lexica` and `AsyncLexica` share, and following a job live.

A job runs on the server after the request that started it (`202`). `follow_job` yields its events as they
happen, read from the job's server-sent event stream: `JobStages` first, then `JobProgress`, then one
`JobFinished`. The server ends a stream after a while (`stream.reconnect`); the client then reconnects with
`Last-Event-ID` and resumes after the last event it received, as it does when the connection drops, so every
event is seen once. `wait_for_job` follows a job to its end and returns it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import Any

import httpx

from lexica_client._api.api.jobs import cancel_job as _cancel_job
from lexica_client._api.api.jobs import get_job as _get_job
from lexica_client._api.api.jobs import list_jobs as _list_jobs
from lexica_client._api.api.jobs import start_export as _start_export
from lexica_client._api.api.jobs import start_import as _start_import
from lexica_client._api.client import AuthenticatedClient
from lexica_client._api.models.entry import Entry
from lexica_client._api.models.entry_input import EntryInput
from lexica_client._api.models.export_request import ExportRequest
from lexica_client._api.models.export_request_source import ExportRequestSource
from lexica_client._api.models.import_request import ImportRequest
from lexica_client._api.models.import_request_source import ImportRequestSource
from lexica_client._api.models.job import Job
from lexica_client._api.models.job_page import JobPage
from lexica_client._api.models.list_export_line import ListExportLine
from lexica_client._api.types import UNSET, Unset
from lexica_client._sse import Follow, JobEvent, job_path
from lexica_client.errors import APIConnectionError, UnexpectedResponseError, expect, parsing

ExportLine = ListExportLine | Entry
EntryLike = EntryInput | Mapping[str, Any]

DEFAULT_RECONNECT_ATTEMPTS = 5
_UPLOAD_CHUNK_BYTES = 64 * 1024
_NDJSON_ACCEPT = "application/x-ndjson, application/problem+json"
_IMPORTS_PATH = "/api/v1/imports"


def _unset(value: str | None) -> str | Unset:
    return UNSET if value is None else value


# Uploads and downloads


def _overwrite_params(overwrite_edited: bool) -> dict[str, str]:
    """The query of an import that replaces entries edited since they were imported (none: they are kept)."""
    return {"overwrite_edited": "true"} if overwrite_edited else {}


def _upload_headers(idempotency_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/x-ndjson"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def _check_entries(entries: object) -> None:
    if isinstance(entries, str | bytes | Mapping | EntryInput):  # iterating one of these is surely a mistake
        raise TypeError("entries must be an iterable of entries, not one entry or a str")


def _ndjson_line(entry: EntryLike) -> bytes:
    document = entry.to_dict() if isinstance(entry, EntryInput) else dict(entry)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _ndjson(entries: Iterable[EntryLike]) -> Iterator[bytes]:
    """The entries as NDJSON in chunks of about 64 KiB, produced as httpx sends them: never held whole."""
    chunk = bytearray()
    for entry in entries:
        chunk += _ndjson_line(entry)
        if len(chunk) >= _UPLOAD_CHUNK_BYTES:
            yield bytes(chunk)
            chunk.clear()
    if chunk:
        yield bytes(chunk)


async def _andjson(entries: Iterable[EntryLike] | AsyncIterable[EntryLike]) -> AsyncIterator[bytes]:
    if isinstance(entries, AsyncIterable):
        chunk = bytearray()
        async for entry in entries:
            chunk += _ndjson_line(entry)
            if len(chunk) >= _UPLOAD_CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if chunk:
            yield bytes(chunk)
    else:
        for part in _ndjson(entries):
            yield part


def _started(response: httpx.Response) -> Job:
    """The job of a `202` (error statuses were raised by the response hook)."""
    if response.status_code != httpx.codes.ACCEPTED:
        raise UnexpectedResponseError(response.status_code, "Unexpected Response", "the response holds no Job")
    with parsing(Job):
        return Job.from_dict(response.json())


class _Lines:
    """NDJSON lines from chunks of bytes, as they arrive (a line may span chunks)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *complete, self._pending = (self._pending + chunk).split(b"\n")
        return [line for line in complete if line.strip()]

    def rest(self) -> list[bytes]:
        return [self._pending] if self._pending.strip() else []


def _export_line(line: bytes) -> ExportLine:
    """A word list's file holds `ListExportLine`s (they say when each word was added), the dictionary's `Entry`s."""
    try:
        document = json.loads(line)
    except ValueError as error:
        raise UnexpectedResponseError(200, "Unexpected Response", f"a line of the file is not JSON: {error}") from None
    model = ListExportLine if isinstance(document, dict) and "added_at" in document else Entry
    with parsing(model):
        return model.from_dict(document)


# Server-sent events


class JobMethods:
    """The job methods of `Lexica`. Imports and dictionary exports need an admin's credentials."""

    _api: AuthenticatedClient
    _http: httpx.Client

    def start_gcide_import(self, *, overwrite_edited: bool = False, idempotency_key: str | None = None) -> Job:
        """Starts an import of the GCIDE dictionary bundled with the server.

        Entries edited through the API since they were imported are kept (counted in the result's
        `skipped_edited`) unless `overwrite_edited`.
        """
        body = ImportRequest(source=ImportRequestSource.GCIDE)
        with parsing(Job):
            response = _start_import.sync_detailed(
                client=self._api,
                body=body,
                overwrite_edited=overwrite_edited,
                idempotency_key=_unset(idempotency_key),
            )
        return expect(response, Job)

    def import_entries(
        self, entries: Iterable[EntryLike], *, overwrite_edited: bool = False, idempotency_key: str | None = None
    ) -> Job:
        """Uploads `entries` (`EntryInput`s or dicts of the same shape) as NDJSON, streamed, and starts their import.

        The server checks every line first: a bad one raises `ValidationError` whose `errors` name the line
        (`["body", <line number>, ...]`, from 1), and nothing is imported. Entries edited through the API since
        they were imported are kept (the result's `skipped_edited`) unless `overwrite_edited`.
        """
        _check_entries(entries)
        headers = _upload_headers(idempotency_key)
        params = _overwrite_params(overwrite_edited)
        return _started(self._http.post(_IMPORTS_PATH, content=_ndjson(entries), headers=headers, params=params))

    def _start_export(self, body: ExportRequest, idempotency_key: str | None) -> Job:
        with parsing(Job):
            response = _start_export.sync_detailed(client=self._api, body=body, idempotency_key=_unset(idempotency_key))
        return expect(response, Job)

    def start_list_export(self, list_id: str, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of a word list the caller may read; download it with `download_export`."""
        return self._start_export(ExportRequest(source=ExportRequestSource.LIST, list_id=list_id), idempotency_key)

    def start_dictionary_export(self, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of every dictionary entry (admins); download it with `download_export`."""
        return self._start_export(ExportRequest(source=ExportRequestSource.DICTIONARY), idempotency_key)

    def get_job(self, job_id: str) -> Job:
        """One of the caller's jobs; another user's is a `NotFoundError`."""
        with parsing(Job):
            response = _get_job.sync_detailed(job_id, client=self._api)
        return expect(response, Job)

    def my_jobs(self, limit: int = 20, cursor: str | None = None) -> JobPage:
        """One page of the caller's jobs, newest first; pass a page's `next_cursor` as `cursor` for the next."""
        with parsing(JobPage):
            response = _list_jobs.sync_detailed(client=self._api, limit=limit, cursor=_unset(cursor))
        return expect(response, JobPage)

    def iter_my_jobs(self, *, page_size: int = 100) -> Iterator[Job]:
        """Every job of the caller, newest first, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.my_jobs(page_size, cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel_job(self, job_id: str) -> Job:
        """Cancels a queued or running job; it may still be stopping (`cancel_requested`). Finished: `ConflictError`."""
        with parsing(Job):
            response = _cancel_job.sync_detailed(job_id, client=self._api)
        return expect(response, Job)

    def follow_job(
        self, job_id: str, *, reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS
    ) -> Generator[JobEvent, None, None]:
        """The job's events as they happen: `JobStages`, `JobProgress` events, and last `JobFinished`.

        When the server ends the stream or the connection drops, reconnects after the server's hinted delay with
        `Last-Event-ID`, so every event comes once. A failed connection is tried again up to `reconnect_attempts`
        times in a row, then its error (`APIConnectionError`) is raised.
        """
        return self._follow(Follow(job_id, reconnect_attempts=reconnect_attempts, timeout=None))

    def wait_for_job(
        self, job_id: str, *, timeout: float | None = None, reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS
    ) -> Job:
        """Follows the job until it finished (in any state) and returns it; `TimeoutError` after `timeout` s."""
        for _ in self._follow(Follow(job_id, reconnect_attempts=reconnect_attempts, timeout=timeout)):
            pass
        return self.get_job(job_id)

    def _follow(self, follow: Follow) -> Generator[JobEvent, None, None]:
        while True:
            follow.check_time()
            try:
                timeout = follow.http_timeout(self._http.timeout)
                with self._http.stream("GET", follow.path, headers=follow.headers(), timeout=timeout) as response:
                    decoder = follow.opened(response)
                    for chunk in response.iter_bytes():
                        yield from follow.receive(decoder.feed(chunk))
                        if follow.finished:
                            return
            except APIConnectionError as error:
                follow.dropped(error)
            else:
                follow.ended()
            time.sleep(follow.pause())

    def download_export(self, job_id: str) -> Generator[ExportLine, None, None]:
        """The file of a succeeded export, parsed line by line as it streams: `ListExportLine`s for a word list,
        `Entry`s for the dictionary. Not succeeded yet: `ConflictError`; an import: `NotFoundError`."""
        path = job_path(job_id, "result")
        with self._http.stream("GET", path, headers={"Accept": _NDJSON_ACCEPT}) as response:
            lines = _Lines()
            for chunk in response.iter_bytes():
                for line in lines.feed(chunk):
                    yield _export_line(line)
            for line in lines.rest():
                yield _export_line(line)


class AsyncJobMethods:
    """The job methods of `AsyncLexica`: those of `Lexica` as coroutines, iterators prefixed with `a`."""

    _api: AuthenticatedClient
    _http: httpx.AsyncClient

    async def start_gcide_import(self, *, overwrite_edited: bool = False, idempotency_key: str | None = None) -> Job:
        """As `Lexica.start_gcide_import`."""
        body = ImportRequest(source=ImportRequestSource.GCIDE)
        with parsing(Job):
            response = await _start_import.asyncio_detailed(
                client=self._api,
                body=body,
                overwrite_edited=overwrite_edited,
                idempotency_key=_unset(idempotency_key),
            )
        return expect(response, Job)

    async def import_entries(
        self,
        entries: Iterable[EntryLike] | AsyncIterable[EntryLike],
        *,
        overwrite_edited: bool = False,
        idempotency_key: str | None = None,
    ) -> Job:
        """As `Lexica.import_entries`; `entries` may also be an async iterable."""
        _check_entries(entries)
        headers = _upload_headers(idempotency_key)
        params = _overwrite_params(overwrite_edited)
        return _started(await self._http.post(_IMPORTS_PATH, content=_andjson(entries), headers=headers, params=params))

    async def _start_export(self, body: ExportRequest, idempotency_key: str | None) -> Job:
        with parsing(Job):
            response = await _start_export.asyncio_detailed(
                client=self._api, body=body, idempotency_key=_unset(idempotency_key)
            )
        return expect(response, Job)

    async def start_list_export(self, list_id: str, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of a word list the caller may read; download it with `adownload_export`."""
        body = ExportRequest(source=ExportRequestSource.LIST, list_id=list_id)
        return await self._start_export(body, idempotency_key)

    async def start_dictionary_export(self, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of every dictionary entry (admins); download it with `adownload_export`."""
        return await self._start_export(ExportRequest(source=ExportRequestSource.DICTIONARY), idempotency_key)

    async def get_job(self, job_id: str) -> Job:
        """One of the caller's jobs; another user's is a `NotFoundError`."""
        with parsing(Job):
            response = await _get_job.asyncio_detailed(job_id, client=self._api)
        return expect(response, Job)

    async def my_jobs(self, limit: int = 20, cursor: str | None = None) -> JobPage:
        """One page of the caller's jobs, newest first; pass a page's `next_cursor` as `cursor` for the next."""
        with parsing(JobPage):
            response = await _list_jobs.asyncio_detailed(client=self._api, limit=limit, cursor=_unset(cursor))
        return expect(response, JobPage)

    async def aiter_my_jobs(self, *, page_size: int = 100) -> AsyncIterator[Job]:
        """Every job of the caller, newest first, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = await self.my_jobs(page_size, cursor)
            for job in page.items:
                yield job
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def cancel_job(self, job_id: str) -> Job:
        """Cancels a queued or running job; it may still be stopping (`cancel_requested`). Finished: `ConflictError`."""
        with parsing(Job):
            response = await _cancel_job.asyncio_detailed(job_id, client=self._api)
        return expect(response, Job)

    def afollow_job(
        self, job_id: str, *, reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS
    ) -> AsyncGenerator[JobEvent, None]:
        """As `Lexica.follow_job`."""
        return self._afollow(Follow(job_id, reconnect_attempts=reconnect_attempts, timeout=None))

    # `timeout` as in `Lexica.wait_for_job`, although `asyncio.timeout` around the call works as well.
    async def wait_for_job(
        self,
        job_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
    ) -> Job:
        """Follows the job until it finished (in any state) and returns it; `TimeoutError` after `timeout` s."""
        async for _ in self._afollow(Follow(job_id, reconnect_attempts=reconnect_attempts, timeout=timeout)):
            pass
        return await self.get_job(job_id)

    async def _afollow(self, follow: Follow) -> AsyncGenerator[JobEvent, None]:
        while True:
            follow.check_time()
            try:
                timeout = follow.http_timeout(self._http.timeout)
                async with self._http.stream("GET", follow.path, headers=follow.headers(), timeout=timeout) as response:
                    decoder = follow.opened(response)
                    async for chunk in response.aiter_bytes():
                        for event in follow.receive(decoder.feed(chunk)):
                            yield event
                        if follow.finished:
                            return
            except APIConnectionError as error:
                follow.dropped(error)
            else:
                follow.ended()
            await asyncio.sleep(follow.pause())

    async def adownload_export(self, job_id: str) -> AsyncGenerator[ExportLine, None]:
        """As `Lexica.download_export`."""
        path = job_path(job_id, "result")
        async with self._http.stream("GET", path, headers={"Accept": _NDJSON_ACCEPT}) as response:
            lines = _Lines()
            async for chunk in response.aiter_bytes():
                for line in lines.feed(chunk):
                    yield _export_line(line)
            for line in lines.rest():
                yield _export_line(line)
