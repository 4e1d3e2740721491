"""The `lexica-client` SDK, sync and async, against a real uvicorn server over a seeded database: looking words up,
listing and searching them, and the errors it raises."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Iterator

import pytest
from sdk_helpers import ALL_HEADWORDS

from lexica.words.keys import lookup_key
from lexica_client import (
    AsyncLexica,
    BadRequestError,
    Entry,
    EntryNotFoundProblem,
    Lexica,
    LinkKind,
    NotFoundError,
    RelatedEntries,
    SearchMode,
    ValidationError,
    ValidationProblem,
)


@pytest.fixture
def client(live_server: str) -> Iterator[Lexica]:
    with Lexica(live_server, timeout=5.0) as client:
        yield client


@pytest.fixture
async def async_client(live_server: str) -> AsyncIterator[AsyncLexica]:
    async with AsyncLexica(live_server, timeout=5.0) as client:
        yield client


def test_lookup_returns_the_entry_with_its_definitions(client: Lexica) -> None:
    looked_up = client.lookup("apple")
    entry = looked_up.value

    assert isinstance(entry, Entry)
    assert looked_up.etag.startswith('"1-')
    assert entry.headword == "apple"
    assert entry.version == 1
    [section] = entry.parts_of_speech
    assert section.part_of_speech == "n."
    assert [d.text for d in section.definitions] == [
        "The fleshy fruit of a rosaceous tree.",
        "The tree itself.",
        "Any similar fruit.",
    ]


@pytest.mark.parametrize("headword", ["24/7", "9/11", "rock 'n' roll", "o'clock", "jam session", "café"])
def test_lookup_of_headword_needing_url_escapes(client: Lexica, headword: str) -> None:
    assert client.lookup(headword).value.headword == headword


def test_lookup_ignores_case_spacing_and_unicode_form(client: Lexica) -> None:
    assert client.lookup("ZEUS").value.headword == "Zeus"
    assert client.lookup("  Rock   'N'  Roll ").value.headword == "rock 'n' roll"
    assert client.lookup(unicodedata.normalize("NFD", "café")).value.headword == "café"


def test_every_listed_headword_can_be_looked_up(client: Lexica) -> None:
    for headword in client.iter_words(page_size=7):
        assert client.lookup(headword).value.headword == headword


def test_lookup_of_unknown_word_raises_not_found_with_the_problem_detail(client: Lexica) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.lookup("zzyzx")

    error = raised.value
    assert error.status == 404
    assert (error.title, error.type) == ("Entry Not Found", "/problems/entry-not-found")
    assert isinstance(error.problem, EntryNotFoundProblem)
    assert error.problem.status == 404
    assert all(suggestion.href.startswith("/api/v1/words/") for suggestion in error.suggestions)
    assert error.detail == error.problem.detail
    assert error.detail is not None
    assert "zzyzx" in error.detail
    assert "zzyzx" in str(error)


def test_error_carries_the_request_id_sent_in_headers(live_server: str) -> None:
    with (
        Lexica(live_server, headers={"X-Request-ID": "sdk-e2e-1"}) as client,
        pytest.raises(NotFoundError) as raised,
    ):
        client.lookup("zzyzx")

    assert raised.value.request_id == "sdk-e2e-1"


def test_iter_words_walks_every_page_in_key_order(client: Lexica) -> None:
    page_size = 4
    assert client.list_words(limit=page_size).next_cursor is not None  # more than one page to walk
    assert len(ALL_HEADWORDS) > 3 * page_size

    assert list(client.iter_words(page_size=page_size)) == ALL_HEADWORDS


def test_iter_words_with_prefix_stays_within_the_prefix(client: Lexica) -> None:
    expected = [h for h in ALL_HEADWORDS if lookup_key(h).startswith("app")]

    assert list(client.iter_words("app", page_size=2)) == expected


def test_list_words_page_links_to_the_next_page(client: Lexica) -> None:
    first = client.list_words("app", limit=2)

    assert [item.headword for item in first.items] == ["apple", "apple pie"]
    assert first.next_cursor is not None
    assert isinstance(first.links.next_, str)
    second = client.list_words("app", limit=2, cursor=first.next_cursor)
    assert [item.headword for item in second.items] == ["applesauce", "application"]


def test_altered_cursor_raises_bad_request(client: Lexica) -> None:
    with pytest.raises(BadRequestError) as raised:
        client.list_words(cursor="not-a-cursor")

    assert raised.value.status == 400
    assert raised.value.title == "Invalid Cursor"


def test_cursor_of_another_prefix_raises_bad_request(client: Lexica) -> None:
    cursor = client.list_words("app", limit=1).next_cursor
    assert cursor is not None

    with pytest.raises(BadRequestError):
        client.list_words("ban", cursor=cursor)


@pytest.mark.parametrize(
    ("misspelling", "headword"),
    [("aple", "apple"), ("recieve", "receive"), ("rythm", "rhythm"), ("neccessary", "necessary")],
)
def test_search_finds_a_misspelling_among_the_top_three(client: Lexica, misspelling: str, headword: str) -> None:
    results = client.search(misspelling)

    assert results.query == misspelling
    assert results.mode is SearchMode.AUTO
    assert headword in [hit.headword for hit in results.items[:3]]


def test_search_in_exact_mode_returns_only_the_exact_match(client: Lexica) -> None:
    results = client.search("Apple", mode="exact")

    assert [(hit.headword, hit.method.value) for hit in results.items] == [("apple", "exact")]


def test_unknown_search_mode_is_refused_before_any_request(client: Lexica) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        client.search("apple", mode="sideways")


def test_limit_zero_raises_validation_error_listing_the_errors(client: Lexica) -> None:
    with pytest.raises(ValidationError) as raised:
        client.list_words(limit=0)

    error = raised.value
    assert error.status == 422
    assert isinstance(error.problem, ValidationProblem)
    assert [e.location for e in error.errors] == [["query", "limit"]]
    assert error.errors[0].message


def test_search_limit_zero_raises_validation_error(client: Lexica) -> None:
    with pytest.raises(ValidationError) as raised:
        client.search("apple", limit=0)

    assert ["query", "limit"] in [e.location for e in raised.value.errors]


async def test_async_lookup_of_headword_with_slash(async_client: AsyncLexica) -> None:
    entry = (await async_client.lookup("24/7")).value

    assert entry.headword == "24/7"
    assert entry.parts_of_speech[0].part_of_speech == "adv."


async def test_async_lookup_of_unknown_word_raises_not_found(async_client: AsyncLexica) -> None:
    with pytest.raises(NotFoundError) as raised:
        await async_client.lookup("zzyzx")

    assert raised.value.detail is not None
    assert "zzyzx" in raised.value.detail


async def test_async_aiter_words_walks_every_page_in_key_order(async_client: AsyncLexica) -> None:
    assert [headword async for headword in async_client.aiter_words(page_size=5)] == ALL_HEADWORDS


async def test_async_list_words_and_search(async_client: AsyncLexica) -> None:
    page = await async_client.list_words("q", limit=10)
    results = await async_client.search("appl", mode=SearchMode.PREFIX, limit=10)

    assert [item.headword for item in page.items] == ["quiet", "quite"]
    assert page.next_cursor is None
    assert sorted(hit.headword for hit in results.items) == [h for h in ALL_HEADWORDS if h.startswith("appl")]
    assert {hit.method.value for hit in results.items} == {"prefix"}


async def test_async_limit_zero_raises_validation_error(async_client: AsyncLexica) -> None:
    with pytest.raises(ValidationError) as raised:
        await async_client.list_words(limit=0)

    assert [e.location for e in raised.value.errors] == [["query", "limit"]]


def test_entries_link_the_headwords_they_name_both_ways(client: Lexica) -> None:
    applesauce = client.lookup("applesauce").value
    assert [(link.headword, link.href, link.kind) for link in applesauce.links] == [
        ("apple", "/api/v1/words/apple", LinkKind.SEE)
    ]
    apple = client.related("apple", limit=1)
    assert isinstance(apple, RelatedEntries)
    assert (apple.headword, apple.links_to) == ("apple", [])
    assert [(item.headword, item.kinds) for item in apple.linked_from] == [("applesauce", [LinkKind.SEE])]
    assert list(client.iter_linked_from("apple", page_size=1)) == apple.linked_from
    with pytest.raises(NotFoundError) as raised:
        client.related("zzyzx")
    assert raised.value.type == "/problems/entry-not-found"


async def test_async_client_follows_links_too(async_client: AsyncLexica) -> None:
    related = await async_client.related("applesauce")
    assert [(item.headword, item.kinds) for item in related.links_to] == [("apple", [LinkKind.SEE])]
    assert [item.headword async for item in async_client.aiter_linked_from("apple", page_size=1)] == ["applesauce"]
