"""Jobs through the API with the in-process worker: imports (upload and GCIDE letters), exports, cancellation, SSE."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from lexica.app import create_app
from lexica.platform.running import require_running
from tests.conftest import _client, letter_files, make_settings, seed

ADMIN = ("jobs-admin@lexica.test", "Quiet-Lantern-47-Orchard")
READER_PASSWORD = "Copper-Willow-62-Brigade"
NDJSON = {"Content-Type": "application/x-ndjson"}


def entry_line(headword: str, text: str = "a word made for the tests") -> bytes:
    body = {
        "headword": headword,
        "parts_of_speech": [
            {
                "part_of_speech": "n.",
                "etymology": None,
                "definitions": [{"text": text, "examples": []}],
                "compounds": None,
                "synonyms": None,
            }
        ],
    }
    return json.dumps(body).encode() + b"\n"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(
        url,
        first_admin_email=ADMIN[0],
        first_admin_password=SecretStr(ADMIN[1]),
        job_files_dir=tmp_path / "jobs",
    )
    async for client in _client(settings):
        yield client


async def sign_in(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await api.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def admin(api: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in(api, *ADMIN)


@pytest.fixture
async def reader(api: httpx.AsyncClient) -> dict[str, str]:
    email = "reader@lexica.test"
    assert (
        await api.post("/api/v1/auth/register", json={"email": email, "password": READER_PASSWORD})
    ).status_code == 201
    return await sign_in(api, email, READER_PASSWORD)


async def wait_for(api: httpx.AsyncClient, who: dict[str, str], href: str) -> dict[str, Any]:
    """Poll the job until it ends (the API's way for clients without SSE), for at most a minute."""
    async with asyncio.timeout(60):
        while True:
            job: dict[str, Any] = (await api.get(href, headers=who)).json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
            await asyncio.sleep(0.05)


def sse_events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append(fields)
    return events


async def test_upload_import_runs_as_a_job(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    upload = b"".join(entry_line(f"zzjob{n:04d}") for n in range(2500)) + entry_line("xylem", "rewritten")
    started = await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["Location"] == job["href"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "import"
    assert job["stages"] == ["reading", "writing", "indexing"]
    done = await wait_for(api, admin, job["href"])
    assert done["state"] == "succeeded", done
    assert done["result"] == {"inserted": 2500, "updated": 1, "unchanged": 0, "skipped": 0, "skipped_edited": 0}
    assert done["progress"] == {"stage": "indexing", "done": 2501, "total": 2501}
    assert done["attempts"] == 1
    assert done["started_at"] is not None
    assert done["finished_at"] >= done["started_at"]
    assert (await api.get("/api/v1/words/zzjob0042")).status_code == 200
    xylem = (await api.get("/api/v1/words/xylem", headers={"Cache-Control": "no-cache"})).json()
    assert xylem["parts_of_speech"][0]["definitions"][0]["text"] == "rewritten"
    # The instance rebuilt its search index after the import.
    async with asyncio.timeout(10):
        while not (await api.get("/api/v1/search", params={"q": "zzjob0042", "mode": "exact"})).json()["items"]:  # noqa: ASYNC110 - seen only over HTTP
            await asyncio.sleep(0.05)
    # Running the same import again changes nothing.
    again = await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})
    assert (await wait_for(api, admin, again.json()["href"]))["result"]["unchanged"] == 2501


async def test_bad_upload_lines_are_named_and_nothing_is_queued(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    upload = entry_line("fine") + b"{not json\n" + entry_line("also fine") + b'{"headword": "x"}\n' + b"\n"
    response = await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {error["location"][1] for error in errors} == {2, 4}
    assert all(error["location"][0] == "body" for error in errors)
    assert (await api.get("/api/v1/jobs", headers=admin)).json()["items"] == []
    empty = await api.post("/api/v1/imports", content=b"\n\n", headers={**admin, **NDJSON})
    assert empty.status_code == 422
    assert (
        await api.post("/api/v1/imports", content=b"x", headers={**admin, "Content-Type": "text/csv"})
    ).status_code == 415


async def test_only_admins_import_and_jobs_are_private(
    api: httpx.AsyncClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    assert (await api.post("/api/v1/imports", json={"source": "gcide"}, headers=reader)).status_code == 403
    assert (await api.post("/api/v1/imports", json={"source": "gcide"})).status_code == 401
    started = await api.post("/api/v1/imports", content=entry_line("privy"), headers={**admin, **NDJSON})
    href = started.json()["href"]
    assert (await api.get(href, headers=reader)).status_code == 404
    assert (await api.post(f"{href}/cancel", headers=reader)).status_code == 404
    assert (await api.delete(href, headers=reader)).status_code == 404
    assert (await api.get(f"{href}/events", headers=reader)).status_code == 404
    assert (await api.get("/api/v1/jobs", headers=reader)).json()["items"] == []
    await wait_for(api, admin, href)


async def test_events_stream_stages_progress_and_the_end(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    upload = b"".join(entry_line(f"zzsse{n:04d}") for n in range(3200))
    job = (await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})).json()
    response = await api.get(job["events_href"], headers={**admin, "Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [event["event"] for event in events]
    assert names[0] == "job.stages"
    assert names[-1] == "job.finished"
    assert set(names[1:-1]) == {"job.progress"}
    first = json.loads(events[0]["data"])
    assert first["stages"] == ["reading", "writing", "indexing"]
    writing = [json.loads(e["data"]) for e in events if e["event"] == "job.progress" and '"writing"' in e["data"]]
    assert [p["done"] for p in writing] == [0, 1000, 2000, 3000, 3200]
    finished = json.loads(events[-1]["data"])
    assert finished["state"] == "succeeded"
    assert finished["result"]["inserted"] == 3200
    assert finished["event_id"] == events[-1]["id"]
    # Resuming after an event replays exactly what followed it.
    middle = events[len(events) // 2]
    resumed = await api.get(job["events_href"], headers={**admin, "Last-Event-ID": middle["id"]})
    assert [e["id"] for e in sse_events(resumed.text)] == [e["id"] for e in events[len(events) // 2 + 1 :]]


async def test_a_draining_instance_replays_a_finished_jobs_history_not_a_summary(tmp_path: Path) -> None:
    """A follower that reconnects to an instance that has begun to drain, after its job finished, still gets the
    job's kept events (a draining instance once answered with a made-up `job.finished` of a new id instead: the
    follower lost every event it had not yet seen)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(
        url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]), job_files_dir=tmp_path / "jobs"
    )
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lexica.test") as api:
            admin = await sign_in(api, *ADMIN)
            upload = b"".join(entry_line(f"zzdrain{n:04d}") for n in range(1500))
            job = (await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})).json()
            await wait_for(api, admin, job["href"])
            kept = sse_events((await api.get(job["events_href"], headers=admin)).text)
            require_running(manager._state).lifecycle.start_draining()
            fresh = sse_events((await api.get(job["events_href"], headers=admin)).text)
            resumed = sse_events((await api.get(job["events_href"], headers={**admin, "Last-Event-ID": "0-0"})).text)

    assert [event["event"] for event in kept][-1] == "job.finished"
    assert [event["id"] for event in fresh] == [event["id"] for event in kept]
    assert [event["id"] for event in resumed] == [event["id"] for event in kept[1:]]  # after job.stages (0-0)


async def test_cancel_stops_between_batches(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    upload = b"".join(entry_line(f"zzcancel{n:05d}") for n in range(20_000))
    job = (await api.post("/api/v1/imports", content=upload, headers={**admin, **NDJSON})).json()
    assert (await api.delete(job["href"], headers=admin)).status_code == 409  # not finished: cancel it first
    cancelled = await api.post(f"{job['href']}/cancel", headers=admin)
    assert cancelled.status_code in (200, 202), cancelled.text
    assert cancelled.json()["cancel_requested"] is True
    done = await wait_for(api, admin, job["href"])
    assert done["state"] == "cancelled"
    listed = 0
    url: str | None = "/api/v1/words?prefix=zzcancel&limit=100"
    while url is not None:
        page = (await api.get(url)).json()
        listed += len(page["items"])
        url = page["links"]["next"]
    assert listed % 1000 == 0  # whole batches only
    assert listed < 20_000
    again = await api.post(f"{job['href']}/cancel", headers=admin)
    assert again.status_code == 200  # cancelled already: as it is
    assert again.json()["state"] == "cancelled"
    finished = (await api.post("/api/v1/imports", content=entry_line("zzdone"), headers={**admin, **NDJSON})).json()
    await wait_for(api, admin, finished["href"])
    assert (await api.post(f"{finished['href']}/cancel", headers=admin)).status_code == 409
    assert (await api.get(job["href"], headers=admin)).json()["state"] == "cancelled"  # still there until deleted


async def test_delete_forgets_a_finished_job_and_its_files(
    api: httpx.AsyncClient, reader: dict[str, str], admin: dict[str, str]
) -> None:
    started = await api.post("/api/v1/exports", json={"source": "dictionary"}, headers=admin)
    assert started.status_code == 202, started.text
    job = await wait_for(api, admin, started.json()["href"])
    assert job["state"] == "succeeded"
    assert (await api.get(job["result_href"], headers=admin)).status_code == 200
    assert (await api.delete(job["href"], headers=reader)).status_code == 404  # not the reader's job
    deleted = await api.delete(job["href"], headers=admin)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    for href in (job["href"], job["events_href"], job["result_href"]):
        assert (await api.get(href, headers=admin)).status_code == 404, href
    assert (await api.delete(job["href"], headers=admin)).status_code == 404
    listed = (await api.get("/api/v1/jobs?limit=100", headers=admin)).json()["items"]
    assert job["id"] not in [item["id"] for item in listed]


async def test_export_a_word_list(api: httpx.AsyncClient, reader: dict[str, str], admin: dict[str, str]) -> None:
    created = await api.post("/api/v1/lists", json={"name": "Exported"}, headers=reader)
    words = [item["headword"] for item in (await api.get("/api/v1/words?prefix=x&limit=40")).json()["items"]]
    added = await api.post(
        f"{created.json()['href']}/words",
        json={"headwords": words},
        headers={**reader, "If-Match": created.headers["ETag"]},
    )
    assert added.status_code == 200
    started = await api.post(
        "/api/v1/exports", json={"source": "list", "list_id": created.json()["id"]}, headers=reader
    )
    assert started.status_code == 202, started.text
    done = await wait_for(api, reader, started.json()["href"])
    assert done["state"] == "succeeded"
    assert done["result"] == {"lines": 40}
    assert done["result_href"] == f"{done['href']}/result"
    download = await api.get(done["result_href"], headers=reader)
    assert download.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert [line["headword"] for line in lines] == words
    assert all(line["entry"]["headword"] == line["headword"] for line in lines)
    # Others cannot export a private list, readers not the dictionary; imports have no file.
    other = await api.post("/api/v1/exports", json={"source": "list", "list_id": created.json()["id"]}, headers=admin)
    assert other.status_code == 404
    assert (await api.post("/api/v1/exports", json={"source": "dictionary"}, headers=reader)).status_code == 403
    assert (await api.post("/api/v1/exports", json={"source": "list"}, headers=reader)).status_code == 422


async def test_export_the_dictionary(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    started = await api.post("/api/v1/exports", json={"source": "dictionary"}, headers=admin)
    done = await wait_for(api, admin, started.json()["href"])
    assert done["state"] == "succeeded"
    download = await api.get(done["result_href"], headers=admin)
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert len(lines) == done["result"]["lines"] == done["progress"]["total"]
    assert lines[0].keys() == {"headword", "version", "parts_of_speech", "links"}
    headwords = [line["headword"] for line in lines]
    assert len(set(headwords)) == len(headwords)
    linking = [line for line in lines if line["links"]]
    assert linking  # letter X names other entries of X ("See Xanthic.")
    for line in linking[:5] + lines[:2]:  # each line is the entry as getEntry gives it, links included
        assert (await api.get(f"/api/v1/words/{quote(line['headword'], safe='')}")).json() == line
    pending = await api.post("/api/v1/imports", content=entry_line("zzpending"), headers={**admin, **NDJSON})
    result = await api.get(f"{pending.json()['href']}/result", headers=admin)
    assert result.status_code in (404, 409)


async def test_jobs_are_listed_newest_first_with_cursors(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = []
    for n in range(3):
        started = await api.post("/api/v1/imports", content=entry_line(f"zzlist{n}"), headers={**admin, **NDJSON})
        ids.append(started.json()["id"])
        await wait_for(api, admin, started.json()["href"])
    first = (await api.get("/api/v1/jobs", params={"limit": 2}, headers=admin)).json()
    assert [job["id"] for job in first["items"]] == ids[::-1][:2]
    rest = (await api.get(first["links"]["next"], headers=admin)).json()
    assert [job["id"] for job in rest["items"]] == ids[:1]
    assert rest["next_cursor"] is None
