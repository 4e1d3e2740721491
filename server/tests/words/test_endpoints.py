"""The words endpoints over HTTP, against real GCIDE data (letter A)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

from lexica.words.gcide import gcide_files

PROBLEM = "application/problem+json"


def source_record(key: str) -> dict[str, object]:
    for path in gcide_files():
        if path.name == f"words_{key[0].upper()}.json":
            record: dict[str, object] = json.loads(path.read_text())[key]
            return record
    raise KeyError(key)


async def test_lookup_returns_the_source_entry_faithfully(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/words/apple")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    source = source_record("apple")
    assert body["headword"] == "apple"
    assert body["version"] == 1
    expected = [
        {
            "part_of_speech": pos["part_of_speech"],
            "etymology": pos.get("etymology"),
            "definitions": pos["definitions"],
            "compounds": pos.get("cs"),
            "synonyms": pos.get("syn"),
        }
        for pos in source["pos"]  # type: ignore[attr-defined]
    ]
    assert body["parts_of_speech"] == expected


@pytest.mark.parametrize("spelling", ["APPLE", "Apple", "  apple ", "\uff41pple"])
async def test_lookup_ignores_case_spacing_and_unicode_width(client: httpx.AsyncClient, spelling: str) -> None:
    response = await client.get(f"/api/v1/words/{quote(spelling, safe='')}")
    assert response.status_code == 200
    assert response.json()["headword"] == "apple"


@pytest.mark.parametrize("headword", ["24/7", "9/11", "aaron's rod", "a cappella"])
async def test_headwords_with_slashes_spaces_and_apostrophes_are_retrievable(
    client: httpx.AsyncClient, headword: str
) -> None:
    response = await client.get(f"/api/v1/words/{quote(headword, safe='')}")
    assert response.status_code == 200
    assert response.json()["headword"] == headword


async def test_lookup_of_unknown_word_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/words/aple")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 404
    assert "aple" in problem["detail"]
    assert problem["instance"] == "/api/v1/words/aple"
    assert problem["type"] == "/problems/entry-not-found"


async def test_a_missing_headword_suggests_up_to_five_that_are_there(client: httpx.AsyncClient) -> None:
    problem = (await client.get("/api/v1/words/aple")).json()

    suggestions = problem["suggestions"]
    assert 1 <= len(suggestions) <= 5
    assert suggestions[0]["headword"] == "apple"  # the database holds letter A
    for suggestion in suggestions:
        assert (await client.get(suggestion["href"])).status_code == 200


async def test_a_headword_like_nothing_suggests_nothing(client: httpx.AsyncClient) -> None:
    problem = (await client.get("/api/v1/words/qqqqzzzzxxxx")).json()
    assert problem["suggestions"] == []


@pytest.mark.parametrize("headword", ["\u200b", "\U0001f600" * 50, "%", "..", "a/../b"])
async def test_odd_headwords_get_a_clean_404(client: httpx.AsyncClient, headword: str) -> None:
    response = await client.get(f"/api/v1/words/{quote(headword, safe='')}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("headword", ["\x00", "a\x00b", "a\tb", "\x1b[31m", "a\x7f"])
async def test_headwords_with_control_characters_are_422_problem(client: httpx.AsyncClient, headword: str) -> None:
    response = await client.get(f"/api/v1/words/{quote(headword, safe='')}")
    assert response.status_code == 422  # the spec's pattern: a headword is one line without control characters
    assert response.headers["content-type"] == PROBLEM


async def test_over_long_headword_is_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/words/{'a' * 201}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == ["path", "headword"]


async def test_entry_carries_etag_and_cache_control(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/words/apple")
    assert response.headers["etag"].startswith('"1-')
    assert response.headers["cache-control"].startswith("public, max-age=")


async def test_if_none_match_with_current_etag_is_304(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/api/v1/words/apple")).headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get("/api/v1/words/apple", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag


async def test_if_none_match_with_stale_etag_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/words/apple", headers={"If-None-Match": '"0-stale"'})
    assert response.status_code == 200


async def test_listing_pages_through_a_prefix_in_order(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/words?prefix=appl&limit=7"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200
        page = response.json()
        seen += [item["headword"] for item in page["items"]]
        url = page["links"]["next"]
        if url is not None:
            assert page["next_cursor"] in url
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) > 7
    assert "apple" in seen
    assert all(word.startswith("appl") for word in seen)


async def test_listing_items_link_to_retrievable_entries(client: httpx.AsyncClient) -> None:
    """Every headword the API lists under letter A is retrievable through its href."""
    url: str | None = "/api/v1/words?limit=100"
    count = 0
    while url is not None:
        page = (await client.get(url)).json()
        for item in page["items"]:
            response = await client.get(item["href"])
            assert response.status_code == 200, item
            assert response.json()["headword"] == item["headword"]
            count += 1
        url = page["links"]["next"]
    assert count > 8000


async def test_forged_cursor_is_400_problem(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/v1/words?prefix=ab&limit=2")).json()
    cursor = page["next_cursor"]
    for bad in ("abc", cursor[:-1] + ("A" if cursor[-1] != "A" else "B"), "x" * 1024):
        response = await client.get("/api/v1/words", params={"prefix": "ab", "cursor": bad})
        assert response.status_code == 400, bad
        assert response.json()["type"] == "/problems/invalid-cursor"


async def test_cursor_of_another_prefix_is_400_problem(client: httpx.AsyncClient) -> None:
    cursor = (await client.get("/api/v1/words?prefix=ab&limit=2")).json()["next_cursor"]
    response = await client.get("/api/v1/words", params={"prefix": "ac", "cursor": cursor})
    assert response.status_code == 400


@pytest.mark.parametrize("limit", ["0", "101", "", "ten", "-1", "1.5"])
async def test_limit_out_of_bounds_is_422_problem(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/api/v1/words", params={"limit": limit})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["location"] == ["query", "limit"]


async def test_empty_prefix_lists_from_the_start(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/v1/words?prefix=&limit=3")).json()
    assert len(page["items"]) == 3


async def test_prefix_without_matches_is_an_empty_last_page(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/v1/words?prefix=zzzzq")).json()
    assert page == {"items": [], "next_cursor": None, "links": {"next": None}}


async def test_search_finds_apple_for_aple_in_the_top_three(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/search", params={"q": "aple"})
    assert response.status_code == 200
    top = [hit["headword"] for hit in response.json()["items"][:3]]
    assert "apple" in top


async def test_search_results_carry_score_and_method_best_first(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/search", params={"q": "apple"})).json()
    assert body["mode"] == "auto"
    first = body["items"][0]
    assert first == {
        "headword": "apple",
        "score": 1.0,
        "method": "exact",
        "href": "/api/v1/words/apple",
        "snippet": None,
    }
    scores = [hit["score"] for hit in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {hit["method"] for hit in body["items"]} >= {"exact", "prefix"}


@pytest.mark.parametrize(("mode", "method"), [("exact", "exact"), ("prefix", "prefix"), ("fuzzy", "fuzzy")])
async def test_search_mode_restricts_the_method(client: httpx.AsyncClient, mode: str, method: str) -> None:
    body = (await client.get("/api/v1/search", params={"q": "appl", "mode": mode, "limit": 5})).json()
    assert all(hit["method"] == method for hit in body["items"])
    assert len(body["items"]) <= 5


async def test_search_without_query_is_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/search")
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == ["query", "q"]


@pytest.mark.parametrize(
    "params", [{"q": ""}, {"q": "a" * 101}, {"q": "a", "mode": "psychic"}, {"q": "a", "limit": "51"}]
)
async def test_bad_search_parameters_are_422_problem(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("/api/v1/search", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_wrong_method_is_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/words/apple")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
    assert response.headers["content-type"] == PROBLEM


async def test_unacceptable_accept_header_is_406_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/words/apple", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*", "text/html, application/json;q=0.5"])
async def test_acceptable_accept_headers_are_served(client: httpx.AsyncClient, accept: str) -> None:
    response = await client.get("/api/v1/words/apple", headers={"Accept": accept})
    assert response.status_code == 200


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_a_description_finds_the_headwords_it_defines(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/search", params={"q": "fruit of a rosaceous tree", "mode": "meaning"})).json()

    assert body["mode"] == "meaning"
    hits = body["items"]
    assert "apple" in [hit["headword"] for hit in hits[:5]]
    apple = next(hit for hit in hits if hit["headword"] == "apple")
    assert apple["method"] == "meaning"
    assert "rosaceous" in apple["snippet"]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score < 1 for score in scores)
    for hit in hits[:3]:
        assert (await client.get(hit["href"])).status_code == 200


async def test_auto_cascades_from_spelling_to_meaning(client: httpx.AsyncClient) -> None:
    exact = (await client.get("/api/v1/search", params={"q": "anonymous", "limit": 5})).json()["items"]
    assert exact[0]["method"] == "exact"
    assert "meaning" not in {hit["method"] for hit in exact}  # the word is there: no reverse lookup

    described = (await client.get("/api/v1/search", params={"q": "having no name", "limit": 5})).json()["items"]
    assert described[0]["method"] == "meaning"  # several words and no such headword: a description

    misspelt = (await client.get("/api/v1/search", params={"q": "anonymos", "limit": 10})).json()["items"]
    assert misspelt[0]["headword"] == "anonymous"  # one word: close spellings first
    assert misspelt[0]["method"] == "fuzzy"


async def test_a_description_of_nothing_in_the_dictionary_finds_nothing(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/search", params={"q": "the of and", "mode": "meaning"})).json()
    assert body["items"] == []
