"""Editing entries: roles, If-Match preconditions (428/412), versions and ETags, concurrent editors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import _client, letter_files, make_settings, seed
from tests.words.conftest import ADMIN, token

MERGE_PATCH = "application/merge-patch+json"


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


@pytest.fixture
async def reader(api: httpx.AsyncClient) -> dict[str, str]:
    email, password = "plain.reader@lexica.test", "another long passphrase"
    assert (await api.post("/api/v1/auth/register", json={"email": email, "password": password})).status_code == 201
    return await token(api, email, password)


async def create(api: httpx.AsyncClient, editor: dict[str, str], headword: str, text: str) -> httpx.Response:
    body = {"headword": headword, "parts_of_speech": sections(text)}
    return await api.post("/api/v1/words", json=body, headers=editor)


async def test_editor_creates_an_entry_at_version_one(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    response = await create(api, editor, "Zeitgeist Two", "The spirit of a later age.")
    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/words/Zeitgeist%20Two"
    assert response.json()["version"] == 1
    fetched = await api.get(response.headers["location"])
    assert fetched.json()["headword"] == "Zeitgeist Two"
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_new_entries_are_searchable_at_once(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    await create(api, editor, "quizzaciously", "In a quizzical manner.")
    hits = (await api.get("/api/v1/search", params={"q": "quizzacious"})).json()["items"]
    assert hits[0]["headword"] == "quizzaciously"


async def test_creating_an_existing_headword_is_409(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    response = await create(api, editor, "  XYLOPHONE ", "Again.")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_readers_may_not_edit_and_anonymous_callers_must_sign_in(
    api: httpx.AsyncClient, reader: dict[str, str]
) -> None:
    assert (await create(api, reader, "forbidden", "No.")).status_code == 403
    assert (await create(api, {}, "anonymous", "No.")).status_code == 401


async def test_replace_with_current_etag_bumps_version_and_etag(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    before = await api.get("/api/v1/words/xylophone")
    body = {"headword": "xylophone", "parts_of_speech": sections("A percussion instrument.")}
    response = await api.put(
        "/api/v1/words/xylophone", json=body, headers={**editor, "If-Match": before.headers["etag"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == before.json()["version"] + 1
    assert response.headers["etag"] != before.headers["etag"]
    after = await api.get("/api/v1/words/xylophone")
    assert after.json()["parts_of_speech"][0]["definitions"][0]["text"] == "A percussion instrument."
    assert after.headers["etag"] == response.headers["etag"]


async def test_write_without_if_match_is_428(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    body = {"headword": "xylophone", "parts_of_speech": sections("x")}
    response = await api.put("/api/v1/words/xylophone", json=body, headers=editor)
    assert response.status_code == 428
    assert (await api.delete("/api/v1/words/xylophone", headers=editor)).status_code == 428


@pytest.mark.parametrize("if_match", ['"0-0000000000000000"', "W/{etag}", '"garbage"'])
async def test_write_with_stale_weak_or_foreign_etag_is_412(
    api: httpx.AsyncClient, editor: dict[str, str], if_match: str
) -> None:
    etag = (await api.get("/api/v1/words/xylophone")).headers["etag"]
    body = {"headword": "xylophone", "parts_of_speech": sections("x")}
    response = await api.put(
        "/api/v1/words/xylophone", json=body, headers={**editor, "If-Match": if_match.format(etag=etag)}
    )
    assert response.status_code == 412
    assert (await api.get("/api/v1/words/xylophone")).headers["etag"] == etag


async def test_if_match_star_replaces_any_existing_entry(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    body = {"headword": "xylophone", "parts_of_speech": sections("Anything.")}
    response = await api.put("/api/v1/words/xylophone", json=body, headers={**editor, "If-Match": "*"})
    assert response.status_code == 200
    missing = await api.put(
        "/api/v1/words/nosuchword", json={**body, "headword": "nosuchword"}, headers={**editor, "If-Match": "*"}
    )
    assert missing.status_code == 404


async def test_replace_must_name_the_same_entry(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    body = {"headword": "marimba", "parts_of_speech": sections("x")}
    response = await api.put("/api/v1/words/xylophone", json=body, headers={**editor, "If-Match": "*"})
    assert response.status_code == 422


async def test_merge_patch_replaces_the_parts_given(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    etag = (await api.get("/api/v1/words/xylophone")).headers["etag"]
    response = await api.patch(
        "/api/v1/words/xylophone",
        content=b'{"parts_of_speech": '
        + str(sections("Patched.")).replace("'", '"').replace("None", "null").encode()
        + b"}",
        headers={**editor, "If-Match": etag, "Content-Type": MERGE_PATCH},
    )
    assert response.status_code == 200, response.text
    assert response.json()["parts_of_speech"][0]["definitions"][0]["text"] == "Patched."


async def test_empty_merge_patch_changes_nothing(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    before = await api.get("/api/v1/words/xylophone")
    response = await api.patch(
        "/api/v1/words/xylophone",
        content=b"{}",
        headers={**editor, "If-Match": before.headers["etag"], "Content-Type": MERGE_PATCH},
    )
    assert response.status_code == 200
    assert response.json() == before.json()


async def test_merge_patch_sent_as_plain_json_is_415(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    response = await api.patch("/api/v1/words/xylophone", json={}, headers={**editor, "If-Match": "*"})
    assert response.status_code == 415


async def test_delete_with_current_etag_removes_the_entry(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    etag = (await api.get("/api/v1/words/xylophone")).headers["etag"]
    assert (await api.delete("/api/v1/words/xylophone", headers={**editor, "If-Match": etag})).status_code == 204
    assert (await api.get("/api/v1/words/xylophone")).status_code == 404
    hits = (await api.get("/api/v1/search", params={"q": "xylophone", "mode": "exact"})).json()["items"]
    assert hits == []
    again = await api.delete("/api/v1/words/xylophone", headers={**editor, "If-Match": etag})
    assert again.status_code == 404


async def test_concurrent_editors_with_one_etag_lose_nothing(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    """Twenty editors start from the same version: exactly one write lands, the others are told with 412."""
    etag = (await api.get("/api/v1/words/xylophone")).headers["etag"]

    async def edit(n: int) -> httpx.Response:
        body = {"headword": "xylophone", "parts_of_speech": sections(f"Edit number {n}.")}
        return await api.put("/api/v1/words/xylophone", json=body, headers={**editor, "If-Match": etag})

    responses = await asyncio.gather(*(edit(n) for n in range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 19
    winner = next(response for response in responses if response.status_code == 200)
    final = await api.get("/api/v1/words/xylophone")
    assert final.json() == winner.json()
    assert final.json()["version"] == 2


async def test_no_cache_reads_what_another_instance_wrote(tmp_path: Path) -> None:
    """Two instances on one database: a cached read may lag the other's write; `Cache-Control: no-cache` does not."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'two.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]))
    async for first in _client(settings):
        async for second in _client(settings):
            editor = await token(second, *ADMIN)
            created = await create(second, editor, "twofold", "before")
            assert created.status_code == 201
            cached = await first.get("/api/v1/words/twofold")
            changed = await second.put(
                "/api/v1/words/twofold",
                json={"headword": "twofold", "parts_of_speech": sections("after")},
                headers={**editor, "If-Match": cached.headers["ETag"]},
            )
            assert changed.status_code == 200
            assert (await first.get("/api/v1/words/twofold")).headers["ETag"] == cached.headers["ETag"]  # cached
            fresh = await first.get("/api/v1/words/twofold", headers={"Cache-Control": "no-cache"})
            assert fresh.headers["ETag"] == changed.headers["ETag"]
            assert fresh.json()["parts_of_speech"][0]["definitions"][0]["text"] == "after"
            # ... and the fresh read refreshed the instance's cache.
            assert (await first.get("/api/v1/words/twofold")).headers["ETag"] == changed.headers["ETag"]
