"""The storage port the words domain needs; each storage backend implements it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from lexica.words.links import Name, names, read_names, stored_names
from lexica.words.meaning import Candidate, Corpus, meaning_text

# Where an entry came from: an import of the bundled GCIDE, an NDJSON upload import, or created through the API.
Source = Literal["gcide", "upload", "api"]
ImportSource = Literal["gcide", "upload"]
REPORTED_CONFLICTS = 50  # at most this many skipped headwords are named in an import's report


INDEX_PAGE = 5000  # rows `index_rows` reads and converts at a time (each page is a few milliseconds of CPU)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    key: str
    headword: str
    version: int
    content_hash: str
    content: str  # JSON array of part-of-speech sections, as the API serves them
    source: Source = "gcide"
    edited: bool = False  # created, replaced or patched through the API since it was last imported
    links: str | None = None  # the names it holds as stored (`lexica.words.links.stored_names`), when read with it

    @property
    def names(self) -> tuple[Name, ...]:
        """The headwords it names (`lexica.words.links`): as stored, else found in its content."""
        return read_names(self.links) if self.links is not None else names(self.content, self.key)


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

    @property
    def meaning(self) -> str:
        """The terms of its definitions, which reverse lookup searches (`lexica.words.meaning`)."""
        return meaning_text(self.content)

    @property
    def links(self) -> str:
        """The headwords it names, as storage keeps them (`lexica.words.links.stored_names`)."""
        return stored_names(self.content, self.key)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_edited: int = 0  # entries edited or deleted through the API that the import would have changed: kept
    conflicts: tuple[str, ...] = ()  # the first REPORTED_CONFLICTS of those, by headword

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.skipped_edited + other.skipped_edited,
            (self.conflicts + other.conflicts)[:REPORTED_CONFLICTS],
        )


def tally(
    batch: Sequence[NewEntry],
    *,
    new: Sequence[NewEntry],
    changed: Sequence[NewEntry],
    held: Sequence[NewEntry],
    after: Mapping[str, tuple[str, bool]],
) -> UpsertCounts:
    """An import batch's report: what it meant to insert (`new`) and update (`changed`), the edited entries it left
    alone (`held`), and `after`, key -> (content hash, edited) read back after its conditional writes for the keys
    of `new` and `changed`. A key whose stored content is not the imported one lost to a concurrent writer: an
    editor (a conflict, as `held`) or another import (nothing this batch changed)."""
    inserted = sum(1 for e in new if after.get(e.key, ("", False))[0] == e.content_hash)
    updated = sum(1 for e in changed if after.get(e.key, ("", False))[0] == e.content_hash)
    lost = [e for e in (*new, *changed) if (state := after.get(e.key)) and state[0] != e.content_hash and state[1]]
    conflicts = [*held, *lost]
    return UpsertCounts(
        inserted=inserted,
        updated=updated,
        unchanged=len(batch) - inserted - updated - len(conflicts),
        skipped_edited=len(conflicts),
        conflicts=tuple(e.headword for e in conflicts[:REPORTED_CONFLICTS]),
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

    async def index_rows(self) -> list[IndexRow]:
        """Every entry's key, headword and weight, in key order: read `INDEX_PAGE` rows at a time, so that the
        event loop serves requests between pages instead of waiting a quarter of a second for the whole dictionary."""
        ...

    async def count(self) -> int: ...

    async def meaning_holding(self, terms: Sequence[str]) -> dict[str, int]:
        """Reverse lookup: how many entries hold each of the terms (`lexica.words.meaning`), by the engine's full-text
        index."""
        ...

    async def meaning_candidates(self, terms: Sequence[str]) -> list[Candidate]:
        """Reverse lookup: every entry holding any of the terms, with its stored terms, in no particular order."""
        ...

    async def meaning_corpus(self) -> Corpus:
        """Reverse lookup: how many entries there are and their average number of terms."""
        ...

    async def naming(self, key: str, *, after: str | None, limit: int) -> list[StoredEntry]:
        """Links: the entries whose `links` hold `key`, in key order after the key `after`, by the engine's index
        of them."""
        ...

    async def create(self, entry: NewEntry) -> StoredEntry | None:
        """Insert a new entry at version 1, from the API (source "api", edited), removing any tombstone of its key;
        None when the key exists."""
        ...

    async def replace_if(self, key: str, precondition: Precondition, entry: NewEntry) -> StoredEntry | None:
        """One conditional write bumping the version and marking the entry edited; None when nothing matched."""
        ...

    async def delete_if(self, key: str, precondition: Precondition) -> bool:
        """One conditional delete that leaves a tombstone (imports do not bring the entry back); False when nothing
        matched (missing or stale)."""
        ...

    async def upsert_many(
        self, entries: Sequence[NewEntry], *, source: ImportSource, overwrite_edited: bool = False
    ) -> UpsertCounts:
        """Import a batch: insert new keys, bump the version of keys whose content changed, leave the rest untouched.

        An edited entry whose content differs, or an entry deleted through the API (its tombstone), is skipped
        (counted in `skipped_edited`) unless `overwrite_edited`; the edited test is part of each conditional write
        and a tombstone found after an insert takes the insert back, so an edit or a delete committed while the
        batch runs is never overwritten either. A written entry records `source` and is no longer edited.
        """
        ...
