"""Word lists over HTTP: ownership and sharing, If-Match on every write, words checked against the dictionary,
paging, NDJSON export, concurrent writers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _client, letter_files, make_settings, seed

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
PASSWORD = "Quiet-Lantern-47-Orchard"


@pytest.fixture(scope="module")
def x_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('lists') / 'x.sqlite3'}"
    asyncio.run(seed(url, letter_files("X")))
    return url


@pytest.fixture
async def api(x_database: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(make_settings(x_database)):
        yield client


async def sign_up(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    # A new account each time: the database is the module's, and an address reused (as `id(api)` was, once a
    # test's client had been freed) signed a test in as an earlier test's user, with that user's lists.
    email = f"{name}-{uuid.uuid4().hex}@lexica.test"
    registered = await api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    token = await api.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
async def ada(api: httpx.AsyncClient) -> dict[str, str]:
    return await sign_up(api, "ada")


@pytest.fixture
async def bob(api: httpx.AsyncClient) -> dict[str, str]:
    return await sign_up(api, "bob")


async def headwords(api: httpx.AsyncClient, count: int) -> list[str]:
    page = await api.get("/api/v1/words", params={"prefix": "x", "limit": count})
    found = [item["headword"] for item in page.json()["items"]]
    assert len(found) == count
    return found


async def new_list(api: httpx.AsyncClient, who: dict[str, str], **body: Any) -> httpx.Response:
    response = await api.post("/api/v1/lists", json={"name": "Xenial words", **body}, headers=who)
    assert response.status_code == 201, response.text
    return response


def if_match(response: httpx.Response) -> dict[str, str]:
    return {"If-Match": response.headers["ETag"]}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def test_create_get_and_list_my_lists(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    created = await new_list(api, ada, description="Words with an x")
    body = created.json()
    assert body["version"] == 1
    assert body["word_count"] == 0
    assert body["visibility"] == "private"
    assert created.headers["Location"] == body["href"] == f"/api/v1/lists/{body['id']}"
    assert created.headers["ETag"] == '"list-1"'
    got = await api.get(body["href"], headers=ada)
    assert got.status_code == 200
    assert got.json()["list"] == body
    assert got.json()["words"] == {"items": [], "next_cursor": None, "links": {"next": None}}
    assert got.headers["Cache-Control"] == "private, no-cache"
    assert (await api.get(body["href"], headers={**ada, "If-None-Match": got.headers["ETag"]})).status_code == 304
    second = (await new_list(api, ada, name="Second")).json()
    page = await api.get("/api/v1/lists", params={"limit": 1}, headers=ada)
    assert [item["id"] for item in page.json()["items"]] == [body["id"]]
    following = await api.get(page.json()["links"]["next"], headers=ada)
    assert [item["id"] for item in following.json()["items"]] == [second["id"]]
    assert following.json()["next_cursor"] is None


async def test_private_lists_are_invisible_to_others_and_public_ones_readable(
    api: httpx.AsyncClient, ada: dict[str, str], bob: dict[str, str]
) -> None:
    private = (await new_list(api, ada)).json()
    assert_problem(await api.get(private["href"], headers=bob), 404)
    assert_problem(await api.get(private["href"]), 404)
    assert_problem(await api.get(f"{private['href']}/export"), 404)
    assert (await api.get("/api/v1/lists", headers=bob)).json()["items"] == []
    shared = await new_list(api, ada, name="Shared", visibility="public")
    href = shared.json()["href"]
    assert (await api.get(href)).status_code == 200
    assert (await api.get(href, headers=bob)).status_code == 200
    # Readable is not writable: others get 403 on a public list and 404 on a private one.
    patch = json.dumps({"name": "Mine now"})
    assert_problem(await api.patch(href, content=patch, headers={**bob, **MERGE_PATCH, **if_match(shared)}), 403)
    assert_problem(await api.delete(href, headers={**bob, **if_match(shared)}), 403)
    assert_problem(await api.delete(private["href"], headers={**bob, "If-Match": '"list-1"'}), 404)
    assert_problem(await api.post(f"{href}/words", json={"headwords": ["x"]}, headers={**bob, **if_match(shared)}), 403)
    assert_problem(await api.post("/api/v1/lists", json={"name": "anonymous"}), 401)


async def test_merge_patch_renames_describes_and_shares(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    created = await new_list(api, ada, description="first")
    href = created.json()["href"]
    patched = await api.patch(
        href,
        content=json.dumps({"name": "Renamed", "visibility": "public"}),
        headers={**ada, **MERGE_PATCH, **if_match(created)},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["description"], patched.json()["visibility"]) == (
        "Renamed",
        "first",
        "public",
    )
    assert patched.json()["version"] == 2
    assert patched.headers["ETag"] == '"list-2"'
    cleared = await api.patch(
        href, content='{"description": null}', headers={**ada, **MERGE_PATCH, **if_match(patched)}
    )
    assert cleared.json()["description"] is None
    assert cleared.json()["version"] == 3
    unchanged = await api.patch(href, content="{}", headers={**ada, **MERGE_PATCH, **if_match(cleared)})
    assert unchanged.json()["version"] == 3
    problem = assert_problem(
        await api.patch(href, content='{"name": null}', headers={**ada, **MERGE_PATCH, **if_match(cleared)}), 422
    )
    assert problem["errors"][0]["location"] == ["body", "name"]
    assert_problem(
        await api.patch(href, content="{}", headers={**ada, "Content-Type": "application/json", **if_match(cleared)}),
        415,
    )


async def test_every_write_needs_a_current_if_match(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    created = await new_list(api, ada)
    href = created.json()["href"]
    word = (await headwords(api, 1))[0]
    assert_problem(await api.patch(href, content="{}", headers={**ada, **MERGE_PATCH}), 428)
    assert_problem(await api.delete(href, headers=ada), 428)
    assert_problem(await api.post(f"{href}/words", json={"headwords": [word]}, headers=ada), 428)
    assert_problem(await api.delete(f"{href}/words/{word}", headers=ada), 428)
    renamed = await api.patch(href, content='{"name": "v2"}', headers={**ada, **MERGE_PATCH, **if_match(created)})
    assert renamed.status_code == 200
    for stale in ('"list-1"', 'W/"list-2"', '"1-abcdef0123456789"'):
        headers = {**ada, "If-Match": stale}
        assert_problem(await api.patch(href, content="{}", headers={**headers, **MERGE_PATCH}), 412)
        assert_problem(await api.post(f"{href}/words", json={"headwords": [word]}, headers=headers), 412)
        assert_problem(await api.delete(href, headers=headers), 412)
    star = await api.post(f"{href}/words", json={"headwords": [word]}, headers={**ada, "If-Match": "*"})
    assert star.status_code == 200
    assert star.json()["list"]["version"] == 3
    assert (await api.delete(href, headers={**ada, **if_match(star)})).status_code == 204
    assert_problem(await api.get(href, headers=ada), 404)
    assert_problem(await api.delete(href, headers={**ada, "If-Match": "*"}), 404)


async def test_words_must_exist_and_duplicates_are_ignored(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    created = await new_list(api, ada)
    href = created.json()["href"]
    first, second, third = await headwords(api, 3)
    unknown = await api.post(
        f"{href}/words", json={"headwords": [first, "xqzzyv", second, "  "]}, headers={**ada, **if_match(created)}
    )
    assert [error["location"] for error in assert_problem(unknown, 422)["errors"]] == [["body", "headwords", 3]]
    unknown = await api.post(
        f"{href}/words", json={"headwords": [first, "xqzzyv", second]}, headers={**ada, **if_match(created)}
    )
    errors = assert_problem(unknown, 422)["errors"]
    assert [(error["location"], error["type"]) for error in errors] == [(["body", "headwords", 1], "unknown_headword")]
    assert (await api.get(href, headers=ada)).json()["list"]["word_count"] == 0
    added = await api.post(
        f"{href}/words", json={"headwords": [first, second.upper(), first]}, headers={**ada, **if_match(created)}
    )
    assert added.status_code == 200, added.text
    assert added.json()["added"] == 2
    assert added.json()["list"]["word_count"] == 2
    assert added.json()["list"]["version"] == 2
    again = await api.post(f"{href}/words", json={"headwords": [second, first]}, headers={**ada, **if_match(added)})
    assert again.json()["added"] == 0
    assert again.json()["list"]["version"] == 2
    assert again.headers["ETag"] == added.headers["ETag"]
    more = await api.post(f"{href}/words", json={"headwords": [third]}, headers={**ada, **if_match(again)})
    assert more.json()["list"]["word_count"] == 3
    page = (await api.get(href, params={"limit": 2}, headers=ada)).json()
    listed = [item["headword"] for item in page["words"]["items"]]
    rest = (await api.get(page["words"]["links"]["next"], headers=ada)).json()
    listed += [item["headword"] for item in rest["words"]["items"]]
    assert listed == [first, second, third]  # key order, whatever order they were added in
    assert page["words"]["items"][0]["href"].startswith("/api/v1/words/")
    removed = await api.delete(f"{href}/words/{second}", headers={**ada, **if_match(more)})
    assert removed.status_code == 200
    assert removed.json()["word_count"] == 2
    assert_problem(await api.delete(f"{href}/words/{second}", headers={**ada, **if_match(removed)}), 404)


async def test_cursors_are_bound_to_their_list(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    one, two = await new_list(api, ada), await new_list(api, ada)
    words = await headwords(api, 3)
    added = await api.post(f"{one.json()['href']}/words", json={"headwords": words}, headers={**ada, **if_match(one)})
    assert added.status_code == 200
    cursor = (await api.get(one.json()["href"], params={"limit": 1}, headers=ada)).json()["words"]["next_cursor"]
    assert_problem(await api.get(two.json()["href"], params={"cursor": cursor}, headers=ada), 400)
    assert_problem(await api.get(one.json()["href"], params={"cursor": cursor + "x"}, headers=ada), 400)


async def test_export_streams_ndjson_with_the_entries(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    created = await new_list(api, ada, visibility="public")
    href = created.json()["href"]
    words = await headwords(api, 30)
    added = await api.post(f"{href}/words", json={"headwords": words}, headers={**ada, **if_match(created)})
    assert added.json()["added"] == 30
    async with api.stream("GET", f"{href}/export") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert "attachment" in response.headers["content-disposition"]
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert [line["headword"] for line in lines] == words
    for line in lines:
        assert line["entry"]["headword"] == line["headword"]
        assert line["entry"]["parts_of_speech"]
    assert_problem(await api.get(f"{href}/export", headers={"Accept": "application/json"}), 406)


async def test_deleting_the_account_deletes_its_lists(api: httpx.AsyncClient, bob: dict[str, str]) -> None:
    created = await new_list(api, bob, visibility="public")
    assert (await api.delete("/api/v1/users/me", headers=bob)).status_code == 204
    assert_problem(await api.get(created.json()["href"]), 404)


async def test_idempotent_create(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    headers = {**ada, "Idempotency-Key": "create-list-1"}
    first = await api.post("/api/v1/lists", json={"name": "Once"}, headers=headers)
    again = await api.post("/api/v1/lists", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    mine = (await api.get("/api/v1/lists", headers=ada)).json()["items"]
    assert [item["name"] for item in mine].count("Once") == 1


async def test_concurrent_writers_lose_nothing(api: httpx.AsyncClient, ada: dict[str, str]) -> None:
    """Writers race on one list with If-Match: every acknowledged add is present, every rejection is a 412."""
    created = await new_list(api, ada)
    href = created.json()["href"]
    words = await headwords(api, 24)
    outcomes: list[int] = []

    async def writer(word: str) -> None:
        while True:
            current = await api.get(href, headers=ada)
            response = await api.post(f"{href}/words", json={"headwords": [word]}, headers={**ada, **if_match(current)})
            outcomes.append(response.status_code)
            if response.status_code == 200:
                return
            assert response.status_code == 412, response.text

    await asyncio.gather(*(writer(word) for word in words))
    final = (await api.get(href, params={"limit": 100}, headers=ada)).json()
    assert sorted(item["headword"] for item in final["words"]["items"]) == sorted(words)
    assert final["list"]["version"] == 1 + len(words)
    assert outcomes.count(200) == len(words)
    assert set(outcomes) <= {200, 412}


async def test_account_export_holds_my_lists_and_their_words(
    api: httpx.AsyncClient, ada: dict[str, str], bob: dict[str, str]
) -> None:
    created = await new_list(api, ada, name="Mine")
    words = await headwords(api, 3)
    added = await api.post(
        f"{created.json()['href']}/words", json={"headwords": words}, headers={**ada, **if_match(created)}
    )
    assert added.status_code == 200
    await new_list(api, bob, name="Bob's", visibility="public")
    export = (await api.get("/api/v1/users/me/export", headers=ada)).json()
    assert [(item["list"]["name"], item["headwords"]) for item in export["word_lists"]] == [("Mine", words)]


async def test_an_account_holds_a_bounded_number_of_lists(
    api: httpx.AsyncClient, ada: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lexica.lists.service.MAX_LISTS_PER_USER", 3)  # the real bound is 1,000
    held = [await new_list(api, ada, name=f"list {n}") for n in range(3)]
    assert {response.status_code for response in held} == {201}

    refused = await api.post("/api/v1/lists", json={"name": "one too many"}, headers=ada)
    assert_problem(refused, 409)
    assert refused.json()["type"] == "/problems/list-limit-reached"

    deleted = await api.delete(f"/api/v1/lists/{held[0].json()['id']}", headers={**ada, **if_match(held[0])})
    assert deleted.status_code == 204
    await new_list(api, ada, name="now it fits")
