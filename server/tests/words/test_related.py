"""Links over HTTP: `Entry.links` and `getRelatedEntries` against real GCIDE data (letter A), and links that follow
edits, creations and deletions through the API."""

from __future__ import annotations

import json

import httpx
import pytest

from lexica.platform.pagination import CursorCodec
from lexica.words.service import WordService
from tests.conftest import TEST_SECRET
from tests.words.conftest import CountingRepository, parts
from tests.words.test_editing import create

PROBLEM = "application/problem+json"


def names(items: list[dict[str, object]]) -> list[object]:
    return [item["headword"] for item in items]


async def test_an_entry_links_the_headwords_it_names(client: httpx.AsyncClient) -> None:
    abbess = (await client.get("/api/v1/words/abbess")).json()
    # "A female superior ... See Abbey." and its etymology's "See Abbot."
    assert {"headword": "abbey", "href": "/api/v1/words/abbey", "kind": "see"} in abbess["links"]
    assert {"headword": "abbot", "href": "/api/v1/words/abbot", "kind": "see"} in abbess["links"]
    abandon = (await client.get("/api/v1/words/abandon")).json()
    # Its synonym paragraph names "yield", "surrender", ... (letters not loaded here) and "abdicate" (loaded).
    assert abandon["links"] == [{"headword": "abdicate", "href": "/api/v1/words/abdicate", "kind": "synonym"}]
    for link in abandon["links"] + abbess["links"]:
        assert (await client.get(link["href"])).status_code == 200


async def test_related_lists_both_ways(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/words/ABBEY/related")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=60"
    body = response.json()
    assert (body["headword"], body["href"]) == ("abbey", "/api/v1/words/abbey")
    assert body["links_to"] == [{"headword": "abbot", "href": "/api/v1/words/abbot", "kinds": ["see"]}]
    assert names(body["linked_from"]) == ["abbacy", "abbess"]
    assert body["linked_from"][1] == {"headword": "abbess", "href": "/api/v1/words/abbess", "kinds": ["see"]}
    assert (body["next_cursor"], body["links"]) == (None, {"next": None})


async def test_linked_from_pages_through_every_entry_once(client: httpx.AsyncClient) -> None:
    whole = (await client.get("/api/v1/words/agent/related", params={"limit": 100})).json()
    assert len(whole["linked_from"]) > 10
    assert whole["next_cursor"] is None
    seen: list[object] = []
    url: str | None = "/api/v1/words/agent/related?limit=4"
    while url is not None:
        page = (await client.get(url)).json()
        assert page["links_to"] == whole["links_to"]  # on every page
        assert len(page["linked_from"]) <= 4
        seen += names(page["linked_from"])
        url = page["links"]["next"]
        assert (url is None) == (page["next_cursor"] is None)
    assert seen == names(whole["linked_from"])


async def test_bad_cursors_and_unknown_headwords_are_problems(client: httpx.AsyncClient) -> None:
    other = (await client.get("/api/v1/words/agent/related?limit=1")).json()["next_cursor"]
    for cursor in ("not-a-cursor", other):  # altered, or another entry's
        response = await client.get("/api/v1/words/apply/related", params={"cursor": cursor})
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "/problems/invalid-cursor"
    missing = await client.get("/api/v1/words/abbeyy/related")
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/entry-not-found"
    assert missing.json()["suggestions"][0]["headword"] == "abbey"
    assert (await client.get("/api/v1/words/abbey/related", params={"limit": 0})).status_code == 422


async def test_links_follow_the_entries_they_name(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    created = await create(api, editor, "Zeta One", "A letter. See Zeta Two, and Zeta Three.")
    assert created.json()["links"] == []  # neither is an entry yet
    assert (await api.get("/api/v1/words/zeta one")).json()["links"] == []  # now cached

    second = await create(api, editor, "Zeta Two", "Another letter. Syn. -- none.")
    assert second.status_code == 201
    link = {"headword": "Zeta Two", "href": "/api/v1/words/Zeta%20Two", "kind": "see"}
    assert (await api.get("/api/v1/words/zeta one")).json()["links"] == [link]  # the cached copy was dropped
    related = (await api.get("/api/v1/words/zeta two/related")).json()
    assert related["linked_from"] == [{"headword": "Zeta One", "href": "/api/v1/words/Zeta%20One", "kinds": ["see"]}]

    etag = second.headers["etag"]
    assert (await api.delete("/api/v1/words/zeta two", headers={**editor, "If-Match": etag})).status_code == 204
    assert (await api.get("/api/v1/words/zeta one")).json()["links"] == []


async def test_a_headword_cannot_end_in_the_related_path(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    for headword in ("zeta/related", "Zeta/Related ", "24/7/related"):
        response = await create(api, editor, headword, "Would hide the entry zeta's links.")
        assert response.status_code == 422, headword
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["location"] == ["body", "headword"]
    assert (await create(api, editor, "zeta/relatedness", "Allowed.")).status_code == 201
    assert (await api.get("/api/v1/words/zeta%2Frelatedness")).status_code == 200


async def test_an_upload_cannot_bring_such_a_headword(api: httpx.AsyncClient, editor: dict[str, str]) -> None:
    line = b'{"headword": "zeta/related", "parts_of_speech": []}\n'
    response = await api.post(
        "/api/v1/imports", content=line, headers={**editor, "Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 422, response.text
    assert "/related" in response.json()["errors"][0]["message"]


async def test_cached_entries_naming_a_created_or_deleted_entry_are_dropped(repository: CountingRepository) -> None:
    """Tracked by name, not by scanning the cache (`WordService._naming`)."""
    words = WordService(repository, CursorCodec(TEST_SECRET), cache_size=2, cache_ttl_seconds=60)
    namers = [f"zz namer {number}" for number in range(12)]
    for headword in namers:
        await words.create_entry(headword, parts("A word. See Zz Target."))
        view = await words.entry(headword)
        assert view is not None
        assert json.loads(view.body.data)["links"] == []
    await words.create_entry("zz target", parts("What the others name."))
    for headword in namers[-2:]:  # those the cache still held are read again, with their link
        view = await words.entry(headword)
        assert view is not None
        assert [link["headword"] for link in json.loads(view.body.data)["links"]] == ["zz target"]


async def test_names_of_entries_the_cache_evicted_are_not_kept_forever(repository: CountingRepository) -> None:
    words = WordService(repository, CursorCodec(TEST_SECRET), cache_size=1, cache_ttl_seconds=60)
    for number in range(10):  # each names two keys of its own
        await words.create_entry(f"zz namer {number}", parts(f"See Zz First{number}, and Zz Second{number}."))
        assert await words.entry(f"zz namer {number}") is not None
    assert len(words._naming) <= 4  # rebuilt from the one cached entry whenever it outgrew 4 * cache_size
    await words.create_entry("zz first9", parts("Named by the cached entry."))
    view = await words.entry("zz namer 9")
    assert view is not None
    assert [link["headword"] for link in json.loads(view.body.data)["links"]] == ["zz first9"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
async def test_other_methods_on_the_related_path_are_not_allowed(
    api: httpx.AsyncClient, editor: dict[str, str], method: str
) -> None:
    """Not taken for `replaceEntry` (or patch, delete) of a headword ending in `/related` (Schemathesis found a 422)."""
    response = await api.request(method, "/api/v1/words/xanthic/related", headers=editor)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.headers["content-type"] == PROBLEM
    assert (await api.request(method, "/api/v1/words/xanthic%2Frelated", headers=editor)).status_code == 405
