"""The storage port the words domain needs; each storage backend implements it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredEntry:
    key: str
    headword: str
    version: int
    content_hash: str
    content: str  # JSON array of part-of-speech sections, as the API serves them


@dataclass(frozen=True, slots=True)
class HeadwordRow:
    key: str
    headword: str


@dataclass(frozen=True, slots=True)
class IndexRow:
    key: str
    headword: str
    weight: int  # how many definitions the entry has: a proxy for how common the word is


@dataclass(frozen=True, slots=True)
class NewEntry:
    key: str
    headword: str
    content: str
    content_hash: str
    weight: int


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted, self.updated + other.updated, self.unchanged + other.unchanged
        )


@dataclass(frozen=True, slots=True)
class Precondition:
    """What `If-Match` demands of the stored entry: this version and content digest, or (both None) existence."""

    version: int | None = None
    hash_prefix: str | None = None


class WordRepository(Protocol):
    async def get(self, key: str) -> StoredEntry | None: ...

    async def list_headwords(self, *, prefix: str, after: str | None, limit: int) -> list[HeadwordRow]:
        """Headwords whose key starts with `prefix` and sorts after `after`, in key order."""
        ...

    async def headwords_of(self, keys: Sequence[str]) -> dict[str, str]:
        """Key -> headword for those of `keys` that exist (at most a few hundred keys per call)."""
        ...

    async def entries_page(self, *, after: str | None, limit: int) -> list[StoredEntry]:
        """Whole entries in key order, after the key `after` (an export reads the dictionary this way)."""
        ...

    async def index_rows(self) -> list[IndexRow]: ...

    async def count(self) -> int: ...

    async def create(self, entry: NewEntry) -> StoredEntry | None:
        """Insert a new entry at version 1; None when the key exists."""
        ...

    async def replace_if(self, key: str, precondition: Precondition, entry: NewEntry) -> StoredEntry | None:
        """One conditional write bumping the version; None when nothing matched (missing or stale)."""
        ...

    async def delete_if(self, key: str, precondition: Precondition) -> bool:
        """One conditional delete; False when nothing matched (missing or stale)."""
        ...

    async def upsert_many(self, entries: Sequence[NewEntry]) -> UpsertCounts:
        """Insert new keys, bump the version of keys whose content changed, leave the rest untouched."""
        ...
