"""Word lists: the methods `Lexica` and `AsyncLexica` share, and `Tagged`, a response body with its ETag.

Every write to an existing list must name the version it is based on (`If-Match`), so every write method takes
the list's ETag as the required keyword `etag`: a write without one cannot be sent. Every method whose response
carries an ETag (`create_list`, `get_list`, `update_list`, `add_words`, `remove_word`) returns `Tagged[T]`,
the parsed body as `.value` and the list's new ETag as `.etag`, ready for the next write:

    created = lexica.create_list("Fruit")
    added = lexica.add_words(created.value.id, ["apple", "banana"], etag=created.etag)
    lexica.update_list(created.value.id, etag=added.etag, public=True)

A stale ETag raises `PreconditionFailedError`: another write came first. Read the list again and reapply the
change, or let `add_words_retrying` do that for additions.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Generator, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from lexica_client._api.api.lists import add_list_words as _add_list_words
from lexica_client._api.api.lists import create_list as _create_list
from lexica_client._api.api.lists import delete_list as _delete_list
from lexica_client._api.api.lists import get_list as _get_list
from lexica_client._api.api.lists import list_my_lists as _list_my_lists
from lexica_client._api.api.lists import remove_list_word as _remove_list_word
from lexica_client._api.api.lists import update_list as _update_list
from lexica_client._api.client import AuthenticatedClient
from lexica_client._api.models.list_export_line import ListExportLine
from lexica_client._api.models.list_word_item import ListWordItem
from lexica_client._api.models.list_words_added import ListWordsAdded
from lexica_client._api.models.list_words_input import ListWordsInput
from lexica_client._api.models.visibility import Visibility
from lexica_client._api.models.word_list import WordList
from lexica_client._api.models.word_list_input import WordListInput
from lexica_client._api.models.word_list_page import WordListPage
from lexica_client._api.models.word_list_patch import WordListPatch
from lexica_client._api.models.word_list_with_words import WordListWithWords
from lexica_client._api.types import UNSET, Response
from lexica_client._runtime import Tagged
from lexica_client.errors import PreconditionFailedError, UnexpectedResponseError, expect, parsing

_T = TypeVar("_T")
_NDJSON_ACCEPT = "application/x-ndjson, application/problem+json"
_RETRY_BASE_SECONDS = 0.05


class Omitted(enum.Enum):
    """The type of `OMITTED`: `update_list` leaves a member out of the patch (where `None` means "remove it")."""

    OMITTED = "OMITTED"


OMITTED = Omitted.OMITTED


def _visibility(public: bool) -> Visibility:
    return Visibility.PUBLIC if public else Visibility.PRIVATE


def _new_list(name: str, description: str | None, public: bool) -> WordListInput:
    return WordListInput(
        name=name, description=UNSET if description is None else description, visibility=_visibility(public)
    )


def _patch(name: str | Omitted, description: str | Omitted | None, public: bool | Omitted) -> WordListPatch:
    """A JSON merge patch of the members given: an omitted one is left as it is, `description=None` removes it."""
    patch = WordListPatch()
    if not isinstance(name, Omitted):
        patch.name = name
    if not isinstance(description, Omitted):
        patch.description = description
    if not isinstance(public, Omitted):
        patch.visibility = _visibility(public)
    return patch


def _words(headwords: Collection[str]) -> ListWordsInput:
    if isinstance(headwords, str):  # a str is a collection of one-letter headwords: surely a mistake
        raise TypeError("headwords must be a collection of headwords, not one str")
    return ListWordsInput(headwords=list(headwords))


def _tagged(response: Response[Any], model: type[_T]) -> Tagged[_T]:
    value = expect(response, model)
    etag = response.headers.get("ETag")
    if etag is None:
        raise UnexpectedResponseError(int(response.status_code), "Unexpected Response", "the response has no ETag")
    return Tagged(value, etag)


def _backoff(retry: int) -> float:
    """Full jitter: writers that lost to the same write do not all come back at the same moment."""
    return random.uniform(0, _RETRY_BASE_SECONDS * 2**retry)  # noqa: S311 (timing jitter, not a secret)


def _export_path(list_id: str) -> str:
    return f"/api/v1/lists/{quote(list_id, safe='')}/export"


def _export_line(line: bytes) -> ListExportLine:
    # Lines are split on b"\n" only: httpx's iter_lines also splits on U+2028 and friends, which JSON strings
    # may hold unescaped.
    with parsing(ListExportLine):
        return ListExportLine.from_dict(json.loads(line))


class ListMethods:
    """The word-list methods of `Lexica`. Writes need the list owner's credentials."""

    _api: AuthenticatedClient
    _http: httpx.Client

    def create_list(
        self, name: str, *, description: str | None = None, public: bool = False, idempotency_key: str | None = None
    ) -> Tagged[WordList]:
        """A new, empty list owned by the caller; `idempotency_key` makes a retry return the first list."""
        with parsing(WordList):
            response = _create_list.sync_detailed(
                client=self._api,
                body=_new_list(name, description, public),
                idempotency_key=UNSET if idempotency_key is None else idempotency_key,
            )
        return _tagged(response, WordList)

    def my_lists(self, limit: int = 20, cursor: str | None = None) -> WordListPage:
        """One page of the caller's lists, oldest first; pass a page's `next_cursor` as `cursor` for the next."""
        with parsing(WordListPage):
            response = _list_my_lists.sync_detailed(
                client=self._api, limit=limit, cursor=UNSET if cursor is None else cursor
            )
        return expect(response, WordListPage)

    def iter_my_lists(self, *, page_size: int = 100) -> Iterator[WordList]:
        """Every list of the caller, oldest first, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.my_lists(page_size, cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_list(self, list_id: str, *, limit: int = 20, cursor: str | None = None) -> Tagged[WordListWithWords]:
        """The list and one page of its words in key order. Another user's private list: `NotFoundError`."""
        with parsing(WordListWithWords):
            response = _get_list.sync_detailed(
                list_id, client=self._api, limit=limit, cursor=UNSET if cursor is None else cursor
            )
        return _tagged(response, WordListWithWords)

    def iter_list_words(self, list_id: str, *, page_size: int = 100) -> Iterator[ListWordItem]:
        """Every word of the list in key order, following the cursors page by page."""
        cursor: str | None = None
        while True:
            words = self.get_list(list_id, limit=page_size, cursor=cursor).value.words
            yield from words.items
            if words.next_cursor is None:
                return
            cursor = words.next_cursor

    def update_list(
        self,
        list_id: str,
        *,
        etag: str,
        name: str | Omitted = OMITTED,
        description: str | Omitted | None = OMITTED,
        public: bool | Omitted = OMITTED,
    ) -> Tagged[WordList]:
        """Changes only the members given (`description=None` removes the description)."""
        with parsing(WordList):
            response = _update_list.sync_detailed(
                list_id, client=self._api, body=_patch(name, description, public), if_match=etag
            )
        return _tagged(response, WordList)

    def delete_list(self, list_id: str, *, etag: str) -> None:
        """Deletes the list and its words."""
        _delete_list.sync_detailed(list_id, client=self._api, if_match=etag)

    def add_words(self, list_id: str, headwords: Collection[str], *, etag: str) -> Tagged[ListWordsAdded]:
        """Adds dictionary headwords (1 to 100); an unknown one is a `ValidationError` and nothing is added."""
        with parsing(ListWordsAdded):
            response = _add_list_words.sync_detailed(list_id, client=self._api, body=_words(headwords), if_match=etag)
        return _tagged(response, ListWordsAdded)

    def add_words_retrying(
        self, list_id: str, headwords: Collection[str], *, attempts: int = 5
    ) -> Tagged[ListWordsAdded]:
        """`add_words` based on a fresh read of the list, read and sent again while another write comes first.

        Adding is idempotent (words already in the list are ignored), so a retry never adds twice. Retries
        wait a random 0-50 ms, doubling the range each time. Raises `PreconditionFailedError` when every one
        of `attempts` lost the race.
        """
        words = _words(headwords).headwords  # a bad argument fails before any request
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1; got {attempts}")
        for retry in range(attempts - 1):
            try:
                return self.add_words(list_id, words, etag=self.get_list(list_id, limit=1).etag)
            except PreconditionFailedError:
                time.sleep(_backoff(retry))  # another write came first: read the new version and try again
        return self.add_words(list_id, words, etag=self.get_list(list_id, limit=1).etag)

    def remove_word(self, list_id: str, headword: str, *, etag: str) -> Tagged[WordList]:
        """Removes one headword (in any case) from the list; `NotFoundError` when it is not in it."""
        with parsing(WordList):
            response = _remove_list_word.sync_detailed(list_id, headword, client=self._api, if_match=etag)
        return _tagged(response, WordList)

    def export_list(self, list_id: str) -> Generator[ListExportLine, None, None]:
        """Every word of the list with its entry, in key order, parsed line by line as the NDJSON streams in.

        The connection stays open until the generator is exhausted or closed (`contextlib.closing` helps).
        """
        with self._http.stream("GET", _export_path(list_id), headers={"Accept": _NDJSON_ACCEPT}) as response:
            pending = b""
            for chunk in response.iter_bytes():
                *complete, pending = (pending + chunk).split(b"\n")
                yield from (_export_line(line) for line in complete if line.strip())
            if pending.strip():
                yield _export_line(pending)


class AsyncListMethods:
    """The word-list methods of `AsyncLexica`: those of `Lexica` as coroutines, iterators prefixed with `a`."""

    _api: AuthenticatedClient
    _http: httpx.AsyncClient

    async def create_list(
        self, name: str, *, description: str | None = None, public: bool = False, idempotency_key: str | None = None
    ) -> Tagged[WordList]:
        """A new, empty list owned by the caller; `idempotency_key` makes a retry return the first list."""
        with parsing(WordList):
            response = await _create_list.asyncio_detailed(
                client=self._api,
                body=_new_list(name, description, public),
                idempotency_key=UNSET if idempotency_key is None else idempotency_key,
            )
        return _tagged(response, WordList)

    async def my_lists(self, limit: int = 20, cursor: str | None = None) -> WordListPage:
        """One page of the caller's lists, oldest first; pass a page's `next_cursor` as `cursor` for the next."""
        with parsing(WordListPage):
            response = await _list_my_lists.asyncio_detailed(
                client=self._api, limit=limit, cursor=UNSET if cursor is None else cursor
            )
        return expect(response, WordListPage)

    async def aiter_my_lists(self, *, page_size: int = 100) -> AsyncIterator[WordList]:
        """Every list of the caller, oldest first, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = await self.my_lists(page_size, cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_list(self, list_id: str, *, limit: int = 20, cursor: str | None = None) -> Tagged[WordListWithWords]:
        """The list and one page of its words in key order. Another user's private list: `NotFoundError`."""
        with parsing(WordListWithWords):
            response = await _get_list.asyncio_detailed(
                list_id, client=self._api, limit=limit, cursor=UNSET if cursor is None else cursor
            )
        return _tagged(response, WordListWithWords)

    async def aiter_list_words(self, list_id: str, *, page_size: int = 100) -> AsyncIterator[ListWordItem]:
        """Every word of the list in key order, following the cursors page by page."""
        cursor: str | None = None
        while True:
            words = (await self.get_list(list_id, limit=page_size, cursor=cursor)).value.words
            for item in words.items:
                yield item
            if words.next_cursor is None:
                return
            cursor = words.next_cursor

    async def update_list(
        self,
        list_id: str,
        *,
        etag: str,
        name: str | Omitted = OMITTED,
        description: str | Omitted | None = OMITTED,
        public: bool | Omitted = OMITTED,
    ) -> Tagged[WordList]:
        """Changes only the members given (`description=None` removes the description)."""
        with parsing(WordList):
            response = await _update_list.asyncio_detailed(
                list_id, client=self._api, body=_patch(name, description, public), if_match=etag
            )
        return _tagged(response, WordList)

    async def delete_list(self, list_id: str, *, etag: str) -> None:
        """Deletes the list and its words."""
        await _delete_list.asyncio_detailed(list_id, client=self._api, if_match=etag)

    async def add_words(self, list_id: str, headwords: Collection[str], *, etag: str) -> Tagged[ListWordsAdded]:
        """Adds dictionary headwords (1 to 100); an unknown one is a `ValidationError` and nothing is added."""
        with parsing(ListWordsAdded):
            response = await _add_list_words.asyncio_detailed(
                list_id, client=self._api, body=_words(headwords), if_match=etag
            )
        return _tagged(response, ListWordsAdded)

    async def add_words_retrying(
        self, list_id: str, headwords: Collection[str], *, attempts: int = 5
    ) -> Tagged[ListWordsAdded]:
        """`add_words` based on a fresh read of the list, read and sent again while another write comes first.

        Adding is idempotent (words already in the list are ignored), so a retry never adds twice. Retries
        wait a random 0-50 ms, doubling the range each time. Raises `PreconditionFailedError` when every one
        of `attempts` lost the race.
        """
        words = _words(headwords).headwords  # a bad argument fails before any request
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1; got {attempts}")
        for retry in range(attempts - 1):
            try:
                return await self.add_words(list_id, words, etag=(await self.get_list(list_id, limit=1)).etag)
            except PreconditionFailedError:
                await asyncio.sleep(_backoff(retry))  # another write came first: read the new version and try again
        return await self.add_words(list_id, words, etag=(await self.get_list(list_id, limit=1)).etag)

    async def remove_word(self, list_id: str, headword: str, *, etag: str) -> Tagged[WordList]:
        """Removes one headword (in any case) from the list; `NotFoundError` when it is not in it."""
        with parsing(WordList):
            response = await _remove_list_word.asyncio_detailed(list_id, headword, client=self._api, if_match=etag)
        return _tagged(response, WordList)

    async def aexport_list(self, list_id: str) -> AsyncGenerator[ListExportLine, None]:
        """Every word of the list with its entry, in key order, parsed line by line as the NDJSON streams in.

        The connection stays open until the generator is exhausted or closed (`contextlib.aclosing` helps).
        """
        async with self._http.stream("GET", _export_path(list_id), headers={"Accept": _NDJSON_ACCEPT}) as response:
            pending = b""
            async for chunk in response.aiter_bytes():
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    if line.strip():
                        yield _export_line(line)
            if pending.strip():
                yield _export_line(pending)
