"""The SDK's job methods, sync and async, against a real uvicorn server (`jobs_server` in conftest.py): starting
jobs, listing and cancelling them, downloading exports, and who may do which."""

from __future__ import annotations

import uuid

import pytest
from sdk_helpers import entry_json, new_jobs_reader

from lexica.words.keys import lookup_key
from lexica_client import (
    AsyncLexica,
    ConflictError,
    ForbiddenError,
    Lexica,
    ListExportLine,
    NotFoundError,
    ValidationError,
)


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


async def test_reader_may_not_import_or_export_the_dictionary(jobs_server: str, reader_key: str) -> None:
    async with AsyncLexica(jobs_server, api_key=reader_key, timeout=10.0) as reader:
        with pytest.raises(ForbiddenError):
            await reader.start_dictionary_export()
        with pytest.raises(ForbiddenError):
            await reader.start_gcide_import()
        with pytest.raises(ForbiddenError):
            await reader.import_entries([entry_json("forbidden")])


def test_bad_upload_raises_validation_error_naming_the_line_and_imports_nothing(admin: Lexica) -> None:
    entries = [entry_json("upload good one"), {"headword": "upload bad"}, entry_json("upload good two")]

    with pytest.raises(ValidationError) as raised:
        admin.import_entries(entries)

    assert [error.location[:2] for error in raised.value.errors] == [["body", 2]]
    with pytest.raises(NotFoundError):
        admin.lookup("upload good one")


def test_import_retried_with_its_idempotency_key_starts_one_job(admin: Lexica) -> None:
    key = uuid.uuid4().hex
    first = admin.import_entries([entry_json("idempotent one")], idempotency_key=key)
    again = admin.import_entries(iter([entry_json("idempotent one")]), idempotency_key=key)

    assert again.id == first.id
    assert admin.wait_for_job(first.id, timeout=30.0).state == "succeeded"


def test_my_jobs_pages_the_callers_jobs_newest_first(jobs_server: str, admin: Lexica) -> None:
    with Lexica(jobs_server, api_key=new_jobs_reader(jobs_server), timeout=10.0) as reader:
        created = reader.create_list("Mine")
        started = []
        for _ in range(3):  # one after the other: a reader may have 2 jobs queued or running at once
            started.append(reader.start_list_export(created.value.id).id)
            reader.wait_for_job(started[-1], timeout=30.0)
        first_page = reader.my_jobs(limit=2)
        every = [job.id for job in reader.iter_my_jobs(page_size=2)]

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
