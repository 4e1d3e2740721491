"""An import never reverts an editor's change: `lexica import gcide` and the import jobs (GCIDE and NDJSON upload)
keep entries edited through the API, report them, and replace them only when told to.

The GCIDE source is a directory of three real GCIDE records (LEXICA_GCIDE_DATA_DIR), so nothing here imports the
whole dictionary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from lexica.cli import app as cli
from tests.conftest import TEST_SECRET, _client, letter_files, make_settings

ADMIN = ("provenance-admin@lexica.test", "Amber-Harbour-58-Meadow")
RECORDS = ("aardvark", "apple", "apricot")
EDITED_TEXT = "A round fruit, as an editor rewrote it."
NDJSON = {"Content-Type": "application/x-ndjson"}
FRESH = {"Cache-Control": "no-cache"}  # read the stored entry, not this instance's cache


@pytest.fixture(scope="module")
def gcide_records() -> dict[str, Any]:
    source: dict[str, Any] = json.loads(letter_files("A")[0].read_bytes())
    return {key: source[key] for key in RECORDS}


@pytest.fixture
def gcide_dir(tmp_path: Path, gcide_records: dict[str, Any]) -> Path:
    directory = tmp_path / "gcide"
    directory.mkdir()
    (directory / "words_A.json").write_text(json.dumps(gcide_records))
    return directory


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'provenance.sqlite3'}"


@pytest.fixture
async def api(database_url: str, gcide_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        first_admin_email=ADMIN[0],
        first_admin_password=SecretStr(ADMIN[1]),
        gcide_data_dir=gcide_dir,
        job_files_dir=tmp_path / "jobs",
    )
    async for client in _client(settings):
        yield client


@pytest.fixture
async def admin(api: httpx.AsyncClient) -> dict[str, str]:
    response = await api.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def sections(text: str) -> list[dict[str, Any]]:
    return [
        {
            "part_of_speech": "n.",
            "etymology": None,
            "definitions": [{"text": text, "examples": []}],
            "compounds": None,
            "synonyms": None,
        }
    ]


def first_definition(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    text: str = response.json()["parts_of_speech"][0]["definitions"][0]["text"]
    return text


async def edit_apple(api: httpx.AsyncClient, admin: dict[str, str]) -> httpx.Response:
    """An editor's merge patch of `apple`, with the ETag it read first."""
    etag = (await api.get("/api/v1/words/apple", headers=FRESH)).headers["etag"]
    response = await api.patch(
        "/api/v1/words/apple",
        content=json.dumps({"parts_of_speech": sections(EDITED_TEXT)}),
        headers={**admin, "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    return response


async def lexica_import_gcide(database_url: str, gcide_dir: Path, *options: str) -> str:
    """`lexica import gcide` (in a thread: the command runs its own event loop); its output, on one line."""
    environment = {
        "LEXICA_DATABASE_URL": database_url,
        "LEXICA_GCIDE_DATA_DIR": str(gcide_dir),
        "LEXICA_ENVIRONMENT": "test",
        "LEXICA_SECRET_KEY": TEST_SECRET,
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", "gcide", *options], env=environment)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


async def run_import(
    api: httpx.AsyncClient, admin: dict[str, str], *, upload: bytes | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Start an import job and wait (at most 20 s) for its end; the finished job."""
    params = {"overwrite_edited": "true"} if overwrite else {}
    if upload is None:
        started = await api.post("/api/v1/imports", json={"source": "gcide"}, params=params, headers=admin)
    else:
        started = await api.post("/api/v1/imports", content=upload, params=params, headers={**admin, **NDJSON})
    assert started.status_code == 202, started.text
    async with asyncio.timeout(20):
        while True:
            job: dict[str, Any] = (await api.get(started.headers["location"], headers=admin)).json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                assert job["state"] == "succeeded", job
                return job
            await asyncio.sleep(0.02)


def entry_line(headword: str, text: str) -> bytes:
    return json.dumps({"headword": headword, "parts_of_speech": sections(text)}).encode() + b"\n"


async def test_a_rerun_of_lexica_import_gcide_keeps_an_edited_entry(
    api: httpx.AsyncClient, admin: dict[str, str], database_url: str, gcide_dir: Path
) -> None:
    first = await lexica_import_gcide(database_url, gcide_dir)
    assert "3 new, 0 changed, 0 unchanged, 0 edited kept" in first
    gcide_text = first_definition(await api.get("/api/v1/words/apple", headers=FRESH))
    apricot = await api.get("/api/v1/words/apricot", headers=FRESH)
    edited = await edit_apple(api, admin)

    rerun = await lexica_import_gcide(database_url, gcide_dir)
    assert "0 new, 0 changed, 2 unchanged, 1 edited kept" in rerun
    assert "Kept 1 entries edited (or deleted) through the API since they were imported" in rerun
    assert "apple" in rerun
    assert "--overwrite-edited" in rerun
    apple = await api.get("/api/v1/words/apple", headers=FRESH)
    assert first_definition(apple) == EDITED_TEXT
    assert apple.headers["etag"] == edited.headers["etag"]
    # Unchanged entries are not written: same version, same ETag.
    assert (await api.get("/api/v1/words/apricot", headers=FRESH)).headers["etag"] == apricot.headers["etag"]

    overwritten = await lexica_import_gcide(database_url, gcide_dir, "--overwrite-edited")
    assert "0 new, 1 changed, 2 unchanged, 0 edited kept" in overwritten
    apple = await api.get("/api/v1/words/apple", headers=FRESH)
    assert first_definition(apple) == gcide_text
    assert apple.json()["version"] == edited.json()["version"] + 1
    # Imported again, the entry is no longer edited: a plain re-run finds nothing to keep.
    assert "0 new, 0 changed, 3 unchanged, 0 edited kept" in await lexica_import_gcide(database_url, gcide_dir)


async def test_import_jobs_keep_edited_entries_and_report_them(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    loaded = await run_import(api, admin)
    assert loaded["result"] == {"inserted": 3, "updated": 0, "unchanged": 0, "skipped": 0, "skipped_edited": 0}
    gcide_text = first_definition(await api.get("/api/v1/words/apple", headers=FRESH))
    edited = await edit_apple(api, admin)
    created = await api.post(
        "/api/v1/words", json={"headword": "zyzzyva", "parts_of_speech": sections("A weevil.")}, headers=admin
    )
    assert created.status_code == 201, created.text

    rerun = await run_import(api, admin)
    assert rerun["result"] == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "skipped_edited": 1}
    assert first_definition(await api.get("/api/v1/words/apple", headers=FRESH)) == EDITED_TEXT

    # An upload is an import too: it does not overwrite the edited `apple` or the created `zyzzyva`.
    upload = entry_line("apple", "Uploaded.") + entry_line("zyzzyva", "Uploaded.") + entry_line("aardvark", "New.")
    uploaded = await run_import(api, admin, upload=upload)
    assert uploaded["result"] == {"inserted": 0, "updated": 1, "unchanged": 0, "skipped": 0, "skipped_edited": 2}
    apple = await api.get("/api/v1/words/apple", headers=FRESH)
    assert first_definition(apple) == EDITED_TEXT
    assert apple.headers["etag"] == edited.headers["etag"]
    assert first_definition(await api.get("/api/v1/words/zyzzyva", headers=FRESH)) == "A weevil."
    assert first_definition(await api.get("/api/v1/words/aardvark", headers=FRESH)) == "New."

    overwritten = await run_import(api, admin, overwrite=True)
    assert overwritten["result"] == {"inserted": 0, "updated": 2, "unchanged": 1, "skipped": 0, "skipped_edited": 0}
    assert first_definition(await api.get("/api/v1/words/apple", headers=FRESH)) == gcide_text


async def test_overwrite_edited_must_be_a_boolean(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await api.post(
        "/api/v1/imports", json={"source": "gcide"}, params={"overwrite_edited": "perhaps"}, headers=admin
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_entry_deleted_through_the_api_stays_deleted_across_imports(
    api: httpx.AsyncClient, admin: dict[str, str], database_url: str, gcide_dir: Path
) -> None:
    await run_import(api, admin)
    etag = (await api.get("/api/v1/words/apricot", headers=FRESH)).headers["etag"]
    deleted = await api.delete("/api/v1/words/apricot", headers={**admin, "If-Match": etag})
    assert deleted.status_code == 204, deleted.text

    rerun = await run_import(api, admin)
    assert rerun["result"] == {"inserted": 0, "updated": 0, "unchanged": 2, "skipped": 0, "skipped_edited": 1}
    assert (await api.get("/api/v1/words/apricot", headers=FRESH)).status_code == 404
    uploaded = await run_import(api, admin, upload=entry_line("apricot", "Uploaded."))
    assert uploaded["result"]["skipped_edited"] == 1
    assert (await api.get("/api/v1/words/apricot", headers=FRESH)).status_code == 404
    cli_rerun = await lexica_import_gcide(database_url, gcide_dir)
    assert "0 new, 0 changed, 2 unchanged, 1 edited kept" in cli_rerun
    assert "apricot" in cli_rerun

    restored = await run_import(api, admin, overwrite=True)
    assert restored["result"]["inserted"] == 1
    assert (await api.get("/api/v1/words/apricot", headers=FRESH)).status_code == 200
