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

from lexica_client._api.models.entry_input import EntryInput
from lexica_client._api.models.export_request import ExportRequest
from lexica_client._api.models.export_request_source import ExportRequestSource
from lexica_client._api.models.import_request import ImportRequest
from lexica_client._api.models.import_request_source import ImportRequestSource
from lexica_client._api.models.job import Job
from lexica_client._decoders import ExportLine
from lexica_client._runtime import AsyncPage, Page
from lexica_client._sse import Follow, JobEvent
from lexica_client.errors import APIConnectionError, UnexpectedResponseError, parsing
from lexica_client.resources import AsyncJobs, Jobs

EntryLike = EntryInput | Mapping[str, Any]

DEFAULT_RECONNECT_ATTEMPTS = 5
_UPLOAD_CHUNK_BYTES = 64 * 1024
_IMPORTS_PATH = "/api/v1/imports"


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


# Server-sent events


class JobMethods:
    """The job methods of `Lexica`. Imports and dictionary exports need an admin's credentials."""

    jobs: Jobs
    _http: httpx.Client

    def start_gcide_import(self, *, overwrite_edited: bool = False, idempotency_key: str | None = None) -> Job:
        """Starts an import of the GCIDE dictionary bundled with the server.

        Entries edited through the API since they were imported are kept (counted in the result's
        `skipped_edited`) unless `overwrite_edited`.
        """
        body = ImportRequest(source=ImportRequestSource.GCIDE)
        return self.jobs.start_import(body, overwrite_edited=overwrite_edited, idempotency_key=idempotency_key)

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
        return self.jobs.start_export(body, idempotency_key=idempotency_key)

    def start_list_export(self, list_id: str, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of a word list the caller may read; download it with `download_export`."""
        return self._start_export(ExportRequest(source=ExportRequestSource.LIST, list_id=list_id), idempotency_key)

    def start_dictionary_export(self, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of every dictionary entry (admins); download it with `download_export`."""
        return self._start_export(ExportRequest(source=ExportRequestSource.DICTIONARY), idempotency_key)

    def get_job(self, job_id: str) -> Job:
        """One of the caller's jobs; another user's is a `NotFoundError`."""
        return self.jobs.get(job_id)

    def my_jobs(self, limit: int = 20, cursor: str | None = None) -> Page[Job]:
        """One page of the caller's jobs, newest first; iterating it walks on to the oldest."""
        return self.jobs.list(limit=limit, cursor=cursor)

    def iter_my_jobs(self, *, page_size: int = 100, cursor: str | None = None) -> Iterator[Job]:
        """Every job of the caller, newest first (from `cursor`, a page's `next_cursor`, to resume)."""
        yield from self.my_jobs(page_size, cursor)

    def cancel_job(self, job_id: str) -> Job:
        """Cancels a queued or running job; it may still be stopping (`cancel_requested`). Finished: `ConflictError`."""
        return self.jobs.cancel(job_id)

    def delete_job(self, job_id: str) -> None:
        """Deletes a finished job with its events and files (`NotFoundError` afterwards). Not finished: `ConflictError`
        (cancel it first)."""
        self.jobs.delete(job_id)

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
        with self.jobs.get_result(job_id) as lines:
            yield from lines


class AsyncJobMethods:
    """The job methods of `AsyncLexica`: those of `Lexica` as coroutines, iterators prefixed with `a`."""

    jobs: AsyncJobs
    _http: httpx.AsyncClient

    async def start_gcide_import(self, *, overwrite_edited: bool = False, idempotency_key: str | None = None) -> Job:
        """As `Lexica.start_gcide_import`."""
        body = ImportRequest(source=ImportRequestSource.GCIDE)
        return await self.jobs.start_import(body, overwrite_edited=overwrite_edited, idempotency_key=idempotency_key)

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
        return await self.jobs.start_export(body, idempotency_key=idempotency_key)

    async def start_list_export(self, list_id: str, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of a word list the caller may read; download it with `adownload_export`."""
        body = ExportRequest(source=ExportRequestSource.LIST, list_id=list_id)
        return await self._start_export(body, idempotency_key)

    async def start_dictionary_export(self, *, idempotency_key: str | None = None) -> Job:
        """Starts an export of every dictionary entry (admins); download it with `adownload_export`."""
        return await self._start_export(ExportRequest(source=ExportRequestSource.DICTIONARY), idempotency_key)

    async def get_job(self, job_id: str) -> Job:
        """One of the caller's jobs; another user's is a `NotFoundError`."""
        return await self.jobs.get(job_id)

    async def my_jobs(self, limit: int = 20, cursor: str | None = None) -> AsyncPage[Job]:
        """One page of the caller's jobs, newest first; `async for` over it walks on to the oldest."""
        return await self.jobs.list(limit=limit, cursor=cursor)

    async def aiter_my_jobs(self, *, page_size: int = 100, cursor: str | None = None) -> AsyncIterator[Job]:
        """Every job of the caller, newest first (from `cursor`, a page's `next_cursor`, to resume)."""
        async for job in await self.my_jobs(page_size, cursor):
            yield job

    async def cancel_job(self, job_id: str) -> Job:
        """Cancels a queued or running job; it may still be stopping (`cancel_requested`). Finished: `ConflictError`."""
        return await self.jobs.cancel(job_id)

    async def delete_job(self, job_id: str) -> None:
        """Deletes a finished job with its events and files (`NotFoundError` afterwards). Not finished: `ConflictError`
        (cancel it first)."""
        await self.jobs.delete(job_id)

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
        async with await self.jobs.get_result(job_id) as lines:
            async for line in lines:
                yield line
