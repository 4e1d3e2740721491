"""Word lists: the friendly methods `Lexica` and `AsyncLexica` share, over their `lists` resource.

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
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Generator, Iterator

from lexica_client._api.models.list_export_line import ListExportLine
from lexica_client._api.models.list_word_item import ListWordItem
from lexica_client._api.models.list_words_added import ListWordsAdded
from lexica_client._api.models.list_words_input import ListWordsInput
from lexica_client._api.models.visibility import Visibility
from lexica_client._api.models.word_list import WordList
from lexica_client._api.models.word_list_input import WordListInput
from lexica_client._api.models.word_list_patch import WordListPatch
from lexica_client._api.models.word_list_with_words import WordListWithWords
from lexica_client._api.types import UNSET
from lexica_client._runtime import AsyncPage, Page, Tagged
from lexica_client.errors import PreconditionFailedError
from lexica_client.resources import AsyncLists, Lists

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


def _check_attempts(attempts: int) -> None:
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1; got {attempts}")


def _backoff(retry: int) -> float:
    """Full jitter: writers that lost to the same write do not all come back at the same moment."""
    return random.uniform(0, _RETRY_BASE_SECONDS * 2**retry)  # noqa: S311 (timing jitter, not a secret)


class ListMethods:
    """The word-list methods of `Lexica`. Writes need the list owner's credentials."""

    lists: Lists

    def create_list(
        self, name: str, *, description: str | None = None, public: bool = False, idempotency_key: str | None = None
    ) -> Tagged[WordList]:
        """A new, empty list owned by the caller. An `Idempotency-Key` is sent (a fresh one unless given), so a
        retry after a lost response returns the first list instead of making a second."""
        return self.lists.create(_new_list(name, description, public), idempotency_key=idempotency_key)

    def my_lists(self, limit: int = 20, cursor: str | None = None) -> Page[WordList]:
        """One page of the caller's lists, oldest first; iterating it walks on to the last list."""
        return self.lists.list(limit=limit, cursor=cursor)

    def iter_my_lists(self, *, page_size: int = 100, cursor: str | None = None) -> Iterator[WordList]:
        """Every list of the caller, oldest first (from `cursor`, a page's `next_cursor`, to resume)."""
        yield from self.my_lists(page_size, cursor)

    def get_list(self, list_id: str, *, limit: int = 20, cursor: str | None = None) -> Tagged[WordListWithWords]:
        """The list and one page of its words in key order. Another user's private list: `NotFoundError`."""
        return self.lists.get(list_id, limit=limit, cursor=cursor)

    def iter_list_words(
        self, list_id: str, *, page_size: int = 100, cursor: str | None = None
    ) -> Iterator[ListWordItem]:
        """Every word of the list in key order, following the cursors page by page."""
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
        return self.lists.update(list_id, _patch(name, description, public), etag=etag)

    def delete_list(self, list_id: str, *, etag: str) -> None:
        """Deletes the list and its words."""
        self.lists.delete(list_id, etag=etag)

    def add_words(self, list_id: str, headwords: Collection[str], *, etag: str) -> Tagged[ListWordsAdded]:
        """Adds dictionary headwords (1 to 100); an unknown one is a `ValidationError` and nothing is added."""
        return self.lists.add_words(list_id, _words(headwords), etag=etag)

    def add_words_retrying(
        self, list_id: str, headwords: Collection[str], *, attempts: int = 5
    ) -> Tagged[ListWordsAdded]:
        """`add_words` based on a fresh read of the list, read and sent again while another write comes first.

        Adding is idempotent (words already in the list are ignored), so a retry never adds twice. Retries
        wait a random 0-50 ms, doubling the range each time. Raises `PreconditionFailedError` when every one
        of `attempts` lost the race.
        """
        words = _words(headwords).headwords  # a bad argument fails before any request
        _check_attempts(attempts)
        for retry in range(attempts - 1):
            try:
                return self.add_words(list_id, words, etag=self.get_list(list_id, limit=1).etag)
            except PreconditionFailedError:
                time.sleep(_backoff(retry))  # another write came first: read the new version and try again
        return self.add_words(list_id, words, etag=self.get_list(list_id, limit=1).etag)

    def remove_word(self, list_id: str, headword: str, *, etag: str) -> Tagged[WordList]:
        """Removes one headword (in any case) from the list; `NotFoundError` when it is not in it."""
        return self.lists.remove_word(list_id, headword, etag=etag)

    def export_list(self, list_id: str) -> Generator[ListExportLine, None, None]:
        """Every word of the list with its entry, in key order, parsed line by line as the NDJSON streams in.

        The connection stays open until the generator is exhausted or closed (`contextlib.closing` helps).
        """
        with self.lists.export(list_id) as lines:
            yield from lines


class AsyncListMethods:
    """The word-list methods of `AsyncLexica`: those of `Lexica` as coroutines, iterators prefixed with `a`."""

    lists: AsyncLists

    async def create_list(
        self, name: str, *, description: str | None = None, public: bool = False, idempotency_key: str | None = None
    ) -> Tagged[WordList]:
        """As `Lexica.create_list`."""
        return await self.lists.create(_new_list(name, description, public), idempotency_key=idempotency_key)

    async def my_lists(self, limit: int = 20, cursor: str | None = None) -> AsyncPage[WordList]:
        """One page of the caller's lists, oldest first; `async for` over it walks on to the last list."""
        return await self.lists.list(limit=limit, cursor=cursor)

    async def aiter_my_lists(self, *, page_size: int = 100, cursor: str | None = None) -> AsyncIterator[WordList]:
        """Every list of the caller, oldest first (from `cursor`, a page's `next_cursor`, to resume)."""
        async for word_list in await self.my_lists(page_size, cursor):
            yield word_list

    async def get_list(self, list_id: str, *, limit: int = 20, cursor: str | None = None) -> Tagged[WordListWithWords]:
        """The list and one page of its words in key order. Another user's private list: `NotFoundError`."""
        return await self.lists.get(list_id, limit=limit, cursor=cursor)

    async def aiter_list_words(
        self, list_id: str, *, page_size: int = 100, cursor: str | None = None
    ) -> AsyncIterator[ListWordItem]:
        """Every word of the list in key order, following the cursors page by page."""
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
        return await self.lists.update(list_id, _patch(name, description, public), etag=etag)

    async def delete_list(self, list_id: str, *, etag: str) -> None:
        """Deletes the list and its words."""
        await self.lists.delete(list_id, etag=etag)

    async def add_words(self, list_id: str, headwords: Collection[str], *, etag: str) -> Tagged[ListWordsAdded]:
        """Adds dictionary headwords (1 to 100); an unknown one is a `ValidationError` and nothing is added."""
        return await self.lists.add_words(list_id, _words(headwords), etag=etag)

    async def add_words_retrying(
        self, list_id: str, headwords: Collection[str], *, attempts: int = 5
    ) -> Tagged[ListWordsAdded]:
        """As `Lexica.add_words_retrying`."""
        words = _words(headwords).headwords
        _check_attempts(attempts)
        for retry in range(attempts - 1):
            try:
                etag = (await self.get_list(list_id, limit=1)).etag
                return await self.add_words(list_id, words, etag=etag)
            except PreconditionFailedError:
                await asyncio.sleep(_backoff(retry))
        etag = (await self.get_list(list_id, limit=1)).etag
        return await self.add_words(list_id, words, etag=etag)

    async def remove_word(self, list_id: str, headword: str, *, etag: str) -> Tagged[WordList]:
        """Removes one headword (in any case) from the list; `NotFoundError` when it is not in it."""
        return await self.lists.remove_word(list_id, headword, etag=etag)

    async def aexport_list(self, list_id: str) -> AsyncGenerator[ListExportLine, None]:
        """As `Lexica.export_list`."""
        async with await self.lists.export(list_id) as lines:
            async for line in lines:
                yield line
