"""The storage port of the word-lists domain; each storage backend implements it.

Every write to an existing list is conditional on the list's version (the ETag the client sent in `If-Match`): the
check and the write are one atomic operation in every backend (a conditional UPDATE inside one transaction in SQL,
one conditional single-document update in MongoDB), never read-compare-save.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_WORDS_PER_LIST = 10_000
# Bounds what one account can store (OWASP API4). Checked before the insert, so a burst of concurrent creations can
# overshoot by its own size: a bound on resource use, not an invariant.
MAX_LISTS_PER_USER = 1_000


@dataclass(frozen=True, slots=True)
class ListRecord:
    id: str  # time-ordered and opaque: lists of one owner are listed in id order (oldest first)
    owner_id: str
    name: str
    description: str | None
    public: bool
    version: int  # starts at 1; +1 on every change (rename, describe, share, words added or removed)
    word_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ListWord:
    key: str  # the entry's normalised key (lexica.words.keys.normalise)
    headword: str  # display form
    added_at: datetime


@dataclass(frozen=True, slots=True)
class ListDetails:
    """The editable fields of a list, all of them: a write replaces the three together."""

    name: str
    description: str | None
    public: bool


@dataclass(frozen=True, slots=True)
class WordsAdded:
    list: ListRecord  # after the write (version unchanged when nothing was new)
    added: int  # how many of the given words were new to the list


@dataclass(frozen=True, slots=True)
class WordRemoved:
    list: ListRecord  # after the write (version unchanged when the word was not in the list)
    removed: bool


class ListFull(Exception):
    """Adding the words would take the list past MAX_WORDS_PER_LIST; nothing was written."""


class ListRepository(Protocol):
    async def create_list(self, record: ListRecord) -> None:
        """Insert a new list (version 1, no words)."""
        ...

    async def get_list(self, list_id: str) -> ListRecord | None: ...

    async def lists_of(self, owner_id: str, *, after: str | None, limit: int) -> list[ListRecord]:
        """The owner's lists in id order; `after` is the id of the last list of the previous page."""
        ...

    async def update_list_if(
        self, list_id: str, version: int, details: ListDetails, now: datetime
    ) -> ListRecord | None:
        """Write the details and bump the version, only while the list is at `version`; None otherwise (missing or
        stale)."""
        ...

    async def delete_list_if(self, list_id: str, version: int) -> bool:
        """Delete the list and its words, only while it is at `version`; False otherwise."""
        ...

    async def add_words_if(
        self, list_id: str, version: int, words: Sequence[ListWord], now: datetime
    ) -> WordsAdded | None:
        """Add the words whose key is not in the list yet (duplicates, also within `words`, are ignored), only while
        the list is at `version`; the version bumps once when at least one word was new. None when missing or
        stale. Raises ListFull (writing nothing) when the list would exceed MAX_WORDS_PER_LIST words."""
        ...

    async def remove_word_if(self, list_id: str, version: int, key: str, now: datetime) -> WordRemoved | None:
        """Remove one word by key, only while the list is at `version`; the version bumps when it was there. None when
        the list is missing or stale."""
        ...

    async def list_words(self, list_id: str, *, after: str | None, limit: int) -> list[ListWord]:
        """The list's words in key (code-point) order; `after` is the key of the last word of the previous page."""
        ...

    async def delete_lists_of(self, owner_id: str) -> int:
        """Delete every list of the owner (account erasure); how many."""
        ...
