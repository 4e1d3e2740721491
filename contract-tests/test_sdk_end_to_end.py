"""The `lexica-client` SDK, sync and async, against a real uvicorn server over a seeded database."""

from __future__ import annotations

import asyncio
import inspect
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from seed import SAMPLE_ENTRIES

import lexica_client.client
from lexica.words.keys import lookup_key
from lexica_client import (
    AsyncLexica,
    BadRequestError,
    Entry,
    ForbiddenError,
    Lexica,
    ListExportLine,
    NotFoundError,
    PreconditionFailedError,
    PreconditionRequiredError,
    Problem,
    SearchMode,
    UnauthorizedError,
    ValidationError,
    ValidationProblem,
    Visibility,
    WordListPage,
)
from lexica_client._api.api.lists import add_list_words
from lexica_client._api.api.users import create_api_key
from lexica_client.models import ApiKeyCreated, ApiKeyRequest, ListWordsInput

ALL_HEADWORDS = sorted((entry.headword for entry in SAMPLE_ENTRIES), key=lookup_key)
PASSWORD = "Quiet-Lantern-47-Orchard"


@pytest.fixture
def client(live_server: str) -> Iterator[Lexica]:
    with Lexica(live_server, timeout=5.0) as client:
        yield client


@pytest.fixture
async def async_client(live_server: str) -> AsyncIterator[AsyncLexica]:
    async with AsyncLexica(live_server, timeout=5.0) as client:
        yield client


def test_lookup_returns_the_entry_with_its_definitions(client: Lexica) -> None:
    entry = client.lookup("apple")

    assert isinstance(entry, Entry)
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
    assert client.lookup(headword).headword == headword


def test_lookup_ignores_case_spacing_and_unicode_form(client: Lexica) -> None:
    assert client.lookup("ZEUS").headword == "Zeus"
    assert client.lookup("  Rock   'N'  Roll ").headword == "rock 'n' roll"
    assert client.lookup(unicodedata.normalize("NFD", "café")).headword == "café"


def test_every_listed_headword_can_be_looked_up(client: Lexica) -> None:
    for headword in client.iter_words(page_size=7):
        assert client.lookup(headword).headword == headword


def test_lookup_of_unknown_word_raises_not_found_with_the_problem_detail(client: Lexica) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.lookup("zzyzx")

    error = raised.value
    assert error.status == 404
    assert error.title == "Not Found"
    assert isinstance(error.problem, Problem)
    assert error.problem.status == 404
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
    entry = await async_client.lookup("24/7")

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


# Word lists and credentials. Sign-ins and registrations share a small per-address quota (20 a minute), so
# most tests use an API key made once per account; the sign-in tests sign in themselves.


@dataclass(frozen=True)
class Account:
    email: str
    api_key: str


def _register_with_api_key(base_url: str) -> Account:
    email = f"sdk-{uuid.uuid4().hex[:12]}@example.com"
    registered = httpx.post(f"{base_url}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    with Lexica(base_url, timeout=5.0) as lexica:
        lexica.sign_in(email, PASSWORD)
        response = create_api_key.sync_detailed(client=lexica.api_client, body=ApiKeyRequest(name="sdk tests"))
    assert isinstance(response.parsed, ApiKeyCreated)
    return Account(email, response.parsed.key)


@pytest.fixture(scope="module")
def owner(live_server: str) -> Account:
    return _register_with_api_key(live_server)


@pytest.fixture(scope="module")
def stranger(live_server: str) -> Account:
    return _register_with_api_key(live_server)


@pytest.fixture
def lists(live_server: str, owner: Account) -> Iterator[Lexica]:
    """A client with the owner's API key."""
    with Lexica(live_server, api_key=owner.api_key, timeout=5.0) as client:
        yield client


@pytest.fixture
def other(live_server: str, stranger: Account) -> Iterator[Lexica]:
    """A client with another user's API key."""
    with Lexica(live_server, api_key=stranger.api_key, timeout=5.0) as client:
        yield client


def _headwords(lexica: Lexica, list_id: str) -> list[str]:
    return [item.headword for item in lexica.iter_list_words(list_id, page_size=2)]


def test_signed_in_client_creates_lists_pages_gets_updates_and_deletes_them(live_server: str, owner: Account) -> None:
    with Lexica(live_server, timeout=5.0) as lexica:
        lexica.sign_in(owner.email, PASSWORD)
        created = lexica.create_list("Fruit", description="Sweet things")
        list_id = created.value.id
        assert (created.value.version, created.value.visibility, created.value.word_count) == (1, Visibility.PRIVATE, 0)
        assert list_id in [word_list.id for word_list in lexica.iter_my_lists(page_size=1)]

        fetched = lexica.get_list(list_id)
        assert fetched.etag == created.etag
        assert (fetched.value.list_.name, fetched.value.words.items) == ("Fruit", [])

        updated = lexica.update_list(list_id, etag=fetched.etag, name="Fruits", description=None)
        assert (updated.value.name, updated.value.description, updated.value.version) == ("Fruits", None, 2)
        assert updated.value.visibility is Visibility.PRIVATE  # not in the patch: unchanged
        assert updated.etag != created.etag

        lexica.delete_list(list_id, etag=updated.etag)
        with pytest.raises(NotFoundError):
            lexica.get_list(list_id)


def test_update_list_patches_only_the_members_given(lists: Lexica) -> None:
    created = lists.create_list("Shared", description="Kept")

    updated = lists.update_list(created.value.id, etag=created.etag, public=True)

    assert (updated.value.name, updated.value.description, updated.value.visibility) == (
        "Shared",
        "Kept",
        Visibility.PUBLIC,
    )


def test_add_words_with_a_stale_etag_raises_precondition_failed(lists: Lexica) -> None:
    created = lists.create_list("Stale")
    added = lists.add_words(created.value.id, ["apple"], etag=created.etag)
    assert (added.value.added, added.value.list_.word_count) == (1, 1)

    with pytest.raises(PreconditionFailedError) as raised:
        lists.add_words(created.value.id, ["banana"], etag=created.etag)

    assert raised.value.status == 412
    assert _headwords(lists, created.value.id) == ["apple"]
    retried = lists.add_words_retrying(created.value.id, ["banana"])  # reads the current ETag first
    assert (retried.value.added, retried.value.list_.word_count) == (1, 2)


@pytest.mark.parametrize("client_class", [Lexica, AsyncLexica])
@pytest.mark.parametrize("method", ["update_list", "delete_list", "add_words", "remove_word"])
def test_every_write_to_a_list_requires_its_etag(client_class: type[Lexica | AsyncLexica], method: str) -> None:
    etag = inspect.signature(getattr(client_class, method)).parameters["etag"]

    assert etag.kind is inspect.Parameter.KEYWORD_ONLY
    assert etag.default is inspect.Parameter.empty


def test_write_without_etag_through_the_low_level_client_raises_precondition_required(lists: Lexica) -> None:
    created = lists.create_list("No ETag")

    with pytest.raises(PreconditionRequiredError) as raised:
        add_list_words.sync_detailed(created.value.id, client=lists.api_client, body=ListWordsInput(["apple"]))

    assert raised.value.status == 428


def test_unknown_headwords_raise_validation_error_naming_their_index(lists: Lexica) -> None:
    created = lists.create_list("Unknown words")

    with pytest.raises(ValidationError) as raised:
        lists.add_words(created.value.id, ["apple", "zzyzx", "cat", "qwxz"], etag=created.etag)

    assert [error.location for error in raised.value.errors] == [["body", "headwords", 1], ["body", "headwords", 3]]
    assert _headwords(lists, created.value.id) == []  # nothing was added


def test_private_list_is_not_found_for_another_user_or_anonymously(
    lists: Lexica, other: Lexica, live_server: str
) -> None:
    created = lists.create_list("Private")

    with Lexica(live_server, timeout=5.0) as anonymous:
        for reader in (other, anonymous):
            with pytest.raises(NotFoundError):
                reader.get_list(created.value.id)
            with pytest.raises(NotFoundError):
                list(reader.export_list(created.value.id))


def test_public_list_is_readable_anonymously_and_only_its_owner_writes_it(
    lists: Lexica, other: Lexica, live_server: str
) -> None:
    created = lists.create_list("Public", public=True)
    added = lists.add_words(created.value.id, ["yacht", "river"], etag=created.etag)

    with Lexica(live_server, timeout=5.0) as anonymous:
        assert _headwords(anonymous, created.value.id) == ["river", "yacht"]
        with pytest.raises(UnauthorizedError):
            anonymous.add_words(created.value.id, ["dog"], etag=added.etag)
    with pytest.raises(ForbiddenError):
        other.add_words(created.value.id, ["dog"], etag=added.etag)


def test_headwords_with_a_slash_are_added_and_removed(lists: Lexica) -> None:
    created = lists.create_list("Dates")
    added = lists.add_words(created.value.id, ["24/7", "9/11", "rock 'n' roll"], etag=created.etag)

    removed = lists.remove_word(created.value.id, "24/7", etag=added.etag)

    assert removed.value.word_count == 2
    assert _headwords(lists, created.value.id) == ["9/11", "rock 'n' roll"]
    with pytest.raises(NotFoundError):
        lists.remove_word(created.value.id, "24/7", etag=removed.etag)


def test_export_streams_every_word_with_its_entry_in_key_order(lists: Lexica, live_server: str) -> None:
    words = ["zebra", "Zeus", "apple", "café", "24/7", "jam session"]
    created = lists.create_list("Export", public=True)
    lists.add_words(created.value.id, words, etag=created.etag)

    lines = list(lists.export_list(created.value.id))

    assert all(isinstance(line, ListExportLine) for line in lines)
    assert [line.headword for line in lines] == sorted(words, key=lookup_key)
    assert all(isinstance(line.entry, Entry) and line.entry.headword == line.headword for line in lines)
    with Lexica(live_server, timeout=5.0) as anonymous, closing(anonymous.export_list(created.value.id)) as stream:
        assert next(stream).headword == "24/7"  # the rest is left unread when the stream closes


def test_api_key_access_token_and_anonymous_credentials(live_server: str, owner: Account) -> None:
    token = httpx.post(
        f"{live_server}/api/v1/auth/token",
        data={"grant_type": "password", "username": owner.email, "password": PASSWORD},
    ).json()["access_token"]

    with Lexica(live_server, access_token=token) as bearer:
        list_id = bearer.create_list("Bearer").value.id
        assert token not in repr(bearer)
    with Lexica(live_server, api_key=owner.api_key) as keyed:
        assert list_id in [word_list.id for word_list in keyed.iter_my_lists()]  # the same user
        assert owner.api_key not in repr(keyed)
    with Lexica(live_server, api_key="lxk_not-a-key") as wrong, pytest.raises(UnauthorizedError):
        wrong.my_lists()
    with Lexica(live_server) as anonymous, pytest.raises(UnauthorizedError):
        anonymous.create_list("Nobody's")
    with pytest.raises(ValueError, match="not both"):
        Lexica(live_server, api_key=owner.api_key, access_token=token)


def test_sign_in_refusals(live_server: str, owner: Account) -> None:
    with Lexica(live_server) as lexica, pytest.raises(BadRequestError):
        lexica.sign_in(f"nobody-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    with Lexica(live_server, api_key=owner.api_key) as keyed, pytest.raises(ValueError, match="API key"):
        keyed.sign_in(owner.email, PASSWORD)


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Remembers the method, path and status of every exchange."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.exchanges.append((request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_two_async_clients_racing_with_add_words_retrying_lose_no_word(live_server: str, owner: Account) -> None:
    transport = _RecordingTransport()
    rounds = [ALL_HEADWORDS[start : start + 6] for start in range(0, len(ALL_HEADWORDS), 6)]
    async with (
        AsyncLexica(live_server, transport=transport, timeout=5.0) as first,
        AsyncLexica(live_server, transport=transport, timeout=5.0) as second,
    ):
        await asyncio.gather(first.sign_in(owner.email, PASSWORD), second.sign_in(owner.email, PASSWORD))
        created = await first.create_list("Race")
        list_id = created.value.id
        for words in rounds:  # each round: both read the same version, one write wins, the other retries
            await asyncio.gather(
                first.add_words_retrying(list_id, words[::2]), second.add_words_retrying(list_id, words[1::2])
            )

        words = [item.headword async for item in second.aiter_list_words(list_id, page_size=7)]
        final = await first.get_list(list_id, limit=1)
    assert words == ALL_HEADWORDS
    assert final.value.list_.version == 1 + 2 * len(rounds)  # one new version per successful write
    assert 412 in [status for _, _, status in transport.exchanges]  # some writes lost a race and were retried


async def test_async_client_manages_and_exports_a_list(live_server: str, owner: Account) -> None:
    async with AsyncLexica(live_server, api_key=owner.api_key, timeout=5.0) as lexica:
        created = await lexica.create_list("Async", description="Draft", idempotency_key=uuid.uuid4().hex)
        added = await lexica.add_words(created.value.id, ["quiet", "quite", "o'clock"], etag=created.etag)
        removed = await lexica.remove_word(created.value.id, "QUITE", etag=added.etag)
        updated = await lexica.update_list(created.value.id, etag=removed.etag, description=None, public=True)

        exported = [line async for line in lexica.aexport_list(created.value.id)]
        mine = [word_list.id async for word_list in lexica.aiter_my_lists(page_size=3)]
        await lexica.delete_list(created.value.id, etag=updated.etag)
        with pytest.raises(NotFoundError):
            await lexica.get_list(created.value.id)

    assert [line.headword for line in exported] == ["o'clock", "quiet"]
    assert (updated.value.description, updated.value.visibility) == (None, Visibility.PUBLIC)
    assert created.value.id in mine


async def test_signed_in_token_is_refreshed_once_when_due(
    live_server: str, owner: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = _RecordingTransport()
    token_requests: Callable[[], int] = lambda: transport.exchanges.count(("POST", "/api/v1/auth/token", 200))  # noqa: E731
    async with AsyncLexica(live_server, transport=transport, timeout=5.0) as lexica:
        await lexica.sign_in(owner.email, PASSWORD)
        monkeypatch.setattr(lexica_client.client, "_clock", lambda: time.monotonic() + 3600)

        pages = await asyncio.gather(*(lexica.my_lists(limit=1) for _ in range(3)))
        assert token_requests() == 2  # the sign-in, then one refresh shared by the three calls
        await lexica.my_lists(limit=1)

    assert all(isinstance(page, WordListPage) for page in pages)
    assert token_requests() == 2
