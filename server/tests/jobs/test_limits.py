"""Per-user job limits through the API (in-process worker, real files): jobs per hour, jobs queued or running, and the
storage quota of job files, each refused with a declared 429 problem and Retry-After before anything is stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import _client, letter_files, make_settings, seed
from tests.jobs.test_jobs import ADMIN, NDJSON, READER_PASSWORD, entry_line, sign_in, wait_for


@asynccontextmanager
async def _api(tmp_path: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'limits.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(
        url,
        first_admin_email=ADMIN[0],
        first_admin_password=SecretStr(ADMIN[1]),
        job_files_dir=tmp_path / "jobs",
        **overrides,
    )
    clients = _client(settings)
    client = await anext(clients)
    try:
        yield client
    finally:
        await clients.aclose()  # type: ignore[attr-defined]


async def _reader_with_a_list(api: httpx.AsyncClient, email: str = "limits@lexica.test") -> tuple[dict[str, str], str]:
    assert (
        await api.post("/api/v1/auth/register", json={"email": email, "password": READER_PASSWORD})
    ).status_code == 201
    reader = await sign_in(api, email, READER_PASSWORD)
    created = await api.post("/api/v1/lists", json={"name": "Limited"}, headers=reader)
    words = [item["headword"] for item in (await api.get("/api/v1/words?prefix=x&limit=20")).json()["items"]]
    added = await api.post(
        f"{created.json()['href']}/words",
        json={"headwords": words},
        headers={**reader, "If-Match": created.headers["ETag"]},
    )
    assert added.status_code == 200, added.text
    return reader, created.json()["id"]


def _assert_limit_problem(response: httpx.Response, problem_type: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == problem_type
    assert 1 <= int(response.headers["Retry-After"]) <= 86_401  # an hour at most, a day for the quota


@pytest.fixture
async def hourly_api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _api(tmp_path, job_max_per_hour_per_user=3, job_max_running_per_user=50) as client:
        yield client


async def test_concurrent_exports_beyond_the_hourly_limit_are_refused_atomically(
    hourly_api: httpx.AsyncClient,
) -> None:
    reader, list_id = await _reader_with_a_list(hourly_api)
    responses = await asyncio.gather(
        *(
            hourly_api.post("/api/v1/exports", json={"source": "list", "list_id": list_id}, headers=reader)
            for _ in range(8)
        )
    )
    accepted = [response for response in responses if response.status_code == 202]
    assert len(accepted) == 3, [response.status_code for response in responses]
    for response in responses:
        if response.status_code != 202:
            _assert_limit_problem(response, "/problems/job-limit-reached")
    listed = (await hourly_api.get("/api/v1/jobs", headers=reader)).json()["items"]
    assert len(listed) == 3  # nothing stored for the refused ones
    for response in accepted:
        await wait_for(hourly_api, reader, response.json()["href"])


async def test_a_full_storage_quota_refuses_new_exports(tmp_path: Path) -> None:
    async with _api(tmp_path, job_storage_quota_bytes=4096) as api:
        reader, list_id = await _reader_with_a_list(api)
        user_id = (await api.get("/api/v1/users/me", headers=reader)).json()["id"]
        # An earlier export's file, as the job file directory holds it.
        owner_dir = tmp_path / "jobs" / "files" / user_id
        owner_dir.mkdir(parents=True)
        (owner_dir / "0190aaaaaaaa00000000000000000000.result.ndjson").write_bytes(b"x" * 5000)
        refused = await api.post("/api/v1/exports", json={"source": "list", "list_id": list_id}, headers=reader)
        _assert_limit_problem(refused, "/problems/storage-quota-exceeded")
        assert int(refused.headers["Retry-After"]) > 3600  # the file expires after the retention period (24 h)
        assert (await api.get("/api/v1/jobs", headers=reader)).json()["items"] == []


async def test_an_export_that_outgrows_the_quota_fails_and_leaves_no_file(tmp_path: Path) -> None:
    async with _api(tmp_path, job_storage_quota_bytes=100) as api:
        reader, list_id = await _reader_with_a_list(api)
        started = await api.post("/api/v1/exports", json={"source": "list", "list_id": list_id}, headers=reader)
        assert started.status_code == 202, started.text
        done = await wait_for(api, reader, started.json()["href"])
        assert done["state"] == "failed"
        assert done["error"]["type"] == "/problems/storage-quota-exceeded"
        assert done["result_href"] is None
        files = [path for path in (tmp_path / "jobs" / "files").rglob("*") if path.is_file()]
        assert files == []


async def test_an_upload_larger_than_the_quota_is_refused_and_not_kept(tmp_path: Path) -> None:
    async with _api(tmp_path, job_admin_storage_quota_bytes=10_000) as api:
        admin = await sign_in(api, *ADMIN)
        upload = b"".join(entry_line(f"zzquota{n:04d}") for n in range(300))  # ~75 kB
        refused = await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})
        _assert_limit_problem(refused, "/problems/storage-quota-exceeded")
        assert (await api.get("/api/v1/jobs", headers=admin)).json()["items"] == []
        assert [path for path in (tmp_path / "jobs" / "files").rglob("*") if path.is_file()] == []
        assert (await api.get("/api/v1/words/zzquota0001")).status_code == 404
        # A small upload fits, and its file is deleted once the import finished.
        small = await api.post("/api/v1/imports", content=entry_line("zzquotasmall"), headers={**admin, **NDJSON})
        assert small.status_code == 202, small.text
        assert (await wait_for(api, admin, small.json()["href"]))["state"] == "succeeded"
        assert [path for path in (tmp_path / "jobs" / "files").rglob("*") if path.is_file()] == []


async def test_the_running_limit_refuses_a_third_job_until_one_ends(tmp_path: Path) -> None:
    # One job at a time in this process, and a big import ahead: the reader's exports stay queued.
    async with _api(tmp_path, job_concurrency=1, job_max_running_per_user=2) as api:
        admin = await sign_in(api, *ADMIN)
        reader, list_id = await _reader_with_a_list(api)
        blocker = b"".join(entry_line(f"zzblock{n:05d}") for n in range(3000))
        big = await api.post("/api/v1/imports", content=blocker, headers={**admin, **NDJSON})
        body = {"source": "list", "list_id": list_id}
        first = await api.post("/api/v1/exports", json=body, headers=reader)
        second = await api.post("/api/v1/exports", json=body, headers=reader)
        assert (first.status_code, second.status_code) == (202, 202)
        third = await api.post("/api/v1/exports", json=body, headers=reader)
        _assert_limit_problem(third, "/problems/job-limit-reached")
        assert (await api.post(f"{big.json()['href']}/cancel", headers=admin)).status_code in (200, 202)
        assert (await wait_for(api, reader, first.json()["href"]))["state"] == "succeeded"
        assert (await api.post("/api/v1/exports", json=body, headers=reader)).status_code == 202


async def test_retry_after_of_the_hourly_limit_counts_from_the_oldest_job(hourly_api: httpx.AsyncClient) -> None:
    reader, list_id = await _reader_with_a_list(hourly_api)
    body = {"source": "list", "list_id": list_id}
    for _ in range(3):
        started = await hourly_api.post("/api/v1/exports", json=body, headers=reader)
        await wait_for(hourly_api, reader, started.json()["href"])
    began = time.time()
    refused = await hourly_api.post("/api/v1/exports", json=body, headers=reader)
    _assert_limit_problem(refused, "/problems/job-limit-reached")
    assert 3500 < int(refused.headers["Retry-After"]) <= 3601 + int(time.time() - began)


async def test_a_null_the_contract_does_not_allow_is_refused(tmp_path: Path) -> None:
    # `list_id` may be left out (a dictionary export) but is never null: accepting it would accept what the spec
    # refuses (found by Schemathesis' negative testing).
    async with _api(tmp_path) as api:
        admin = await sign_in(api, *ADMIN)
        refused = await api.post("/api/v1/exports", json={"source": "dictionary", "list_id": None}, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {
                "location": ["body", "list_id"],
                "message": "May not be null: leave the member out instead.",
                "type": "null_not_allowed",
            }
        ]
        assert (await api.get("/api/v1/jobs", headers=admin)).json()["items"] == []  # nothing was started
