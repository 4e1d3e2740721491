"""The SDK's word lists and credentials, sync and async, against a real uvicorn server over a seeded database.

Sign-ins and registrations share a small per-address quota (20 a minute), so most tests use an API key made once
per account; the sign-in tests sign in themselves.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from sdk_helpers import ALL_HEADWORDS, PASSWORD

import lexica_client.client
from lexica.words.keys import lookup_key
from lexica_client import (
    AsyncLexica,
    AsyncPage,
    BadRequestError,
    Entry,
    ForbiddenError,
    Lexica,
    ListExportLine,
    NotFoundError,
    PreconditionFailedError,
    PreconditionRequiredError,
    UnauthorizedError,
    ValidationError,
    Visibility,
)
from lexica_client._api.api.lists import add_list_words
from lexica_client._api.api.users import create_api_key
from lexica_client.models import ApiKeyCreated, ApiKeyRequest, ListWordsInput


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

    assert all(isinstance(page, AsyncPage) for page in pages)
    assert token_requests() == 2
