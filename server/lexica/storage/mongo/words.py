"""`WordRepository` on MongoDB: one document per entry, conditional writes with the precondition in the filter."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DeleteOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from lexica.storage.mongo.database import ENTRIES, ENTRY_TOMBSTONES, Database, Document
from lexica.words.keys import prefix_upper_bound
from lexica.words.links import named_keys, stored_names
from lexica.words.meaning import Candidate, Corpus, meaning_text
from lexica.words.repository import (
    INDEX_PAGE,
    HeadwordRow,
    ImportSource,
    IndexRow,
    NewEntry,
    Precondition,
    StoredEntry,
    UpsertCounts,
    tally,
)

_STORED = {
    "_id": 0,
    "key": 1,
    "headword": 1,
    "version": 1,
    "content_hash": 1,
    "content": 1,
    "source": 1,
    "edited": 1,
    "names": 1,
}
_DUPLICATE_KEY = 11000
# Documents stored before provenance was recorded have neither field: they read as imported from GCIDE, and a
# filter on `edited: {$ne: true}` takes them as not edited (`backfill_provenance` marks those above version 1).
_NOT_EDITED: Document = {"edited": {"$ne": True}}
_LOOKUP_CHUNK = 500  # keys per `$in`: keeps each query small


def _matches(key: str, precondition: Precondition) -> Document:
    clauses: Document = {"key": key}
    if precondition.version is not None:
        clauses["version"] = precondition.version
    if precondition.hash_prefix is not None:
        clauses["content_hash"] = {"$regex": f"^{re.escape(precondition.hash_prefix)}"}
    return clauses


def _stored(document: Document) -> StoredEntry:
    return StoredEntry(
        key=document["key"],
        headword=document["headword"],
        version=document["version"],
        content_hash=document["content_hash"],
        content=document["content"],
        source=document.get("source", "gcide"),
        edited=bool(document.get("edited", False)),
        links=document.get("names"),
    )


def _fields(entry: NewEntry) -> Document:
    return {
        "headword": entry.headword,
        "content": entry.content,
        "content_hash": entry.content_hash,
        "weight": entry.weight,
        **_meaning(entry.meaning),
        **_links(entry.links),
        "updated_at": datetime.now(UTC),
    }


def _links(stored: str) -> Document:
    """The names it holds as SQL stores them (`names`, read back with it), and their distinct keys under the multikey
    index `links` (lexica.words.links)."""
    return {"names": stored, "links": named_keys(stored)}


def _meaning(meaning: str) -> Document:
    """Reverse lookup's terms, how many there are (for BM25's average) and the distinct ones, under the multikey
    index `meaning_words`: an inverted index of exact terms. (A text index with language "none" would be the same
    index on MongoDB itself, but nx-27017, the wire-protocol server of the tests, matches inside words: "cat" in
    "catch". The array matches exactly on both, so every backend finds the same entries.)"""
    words = meaning.split()
    return {"meaning": meaning, "meaning_terms": len(words), "meaning_words": sorted(set(words))}


class MongoWordRepository:
    def __init__(self, database: Database) -> None:
        self._entries = database[ENTRIES]
        self._tombstones = database[ENTRY_TOMBSTONES]

    async def get(self, key: str) -> StoredEntry | None:
        document = await self._entries.find_one({"key": key}, _STORED)
        return None if document is None else _stored(document)

    async def headwords_of(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[start : start + _LOOKUP_CHUNK])
            async for document in self._entries.find({"key": {"$in": chunk}}, {"_id": 0, "key": 1, "headword": 1}):
                found[document["key"]] = document["headword"]
        return found

    async def entries_page(self, *, after: str | None, limit: int) -> list[StoredEntry]:
        query: Document = {} if after is None else {"key": {"$gt": after}}
        cursor = self._entries.find(query, _STORED).sort("key", ASCENDING).limit(limit)
        return [_stored(document) async for document in cursor]

    async def list_headwords(self, *, prefix: str, after: str | None, limit: int) -> list[HeadwordRow]:
        # MongoDB compares strings by their UTF-8 bytes when no collation is given: code-point order, as SQL's.
        bounds: dict[str, Any] = {}
        if prefix:
            bounds["$gte"] = prefix
            upper = prefix_upper_bound(prefix)
            if upper is not None:
                bounds["$lt"] = upper
        if after is not None:
            bounds["$gt"] = after  # with $gte: both hold
        projection = {"_id": 0, "key": 1, "headword": 1}
        cursor = self._entries.find({"key": bounds} if bounds else {}, projection).sort("key", ASCENDING).limit(limit)
        return [HeadwordRow(key=document["key"], headword=document["headword"]) async for document in cursor]

    async def index_rows(self) -> list[IndexRow]:
        found: list[IndexRow] = []
        while True:
            after = {"key": {"$gt": found[-1].key}} if found else {}
            cursor = self._entries.find(after, {"_id": 0, "key": 1, "headword": 1, "weight": 1})
            page = await cursor.sort("key", ASCENDING).limit(INDEX_PAGE).to_list()
            found += [IndexRow(key=d["key"], headword=d["headword"], weight=d["weight"]) for d in page]
            if len(page) < INDEX_PAGE:
                return found

    async def count(self) -> int:
        return await self._entries.count_documents({})

    async def naming(self, key: str, *, after: str | None, limit: int) -> list[StoredEntry]:
        # `$in` rather than equality, which nx-27017 (the wire server of the tests) did not match against this array
        # in `find` (both mean the same on MongoDB).
        query: Document = {"links": {"$in": [key]}}
        if after is not None:
            query["key"] = {"$gt": after}
        cursor = self._entries.find(query, _STORED).sort("key", ASCENDING).limit(limit)
        return [_stored(document) async for document in cursor]

    async def meaning_holding(self, terms: Sequence[str]) -> dict[str, int]:
        return {term: await self._entries.count_documents({"meaning_words": term}) for term in terms}

    async def meaning_candidates(self, terms: Sequence[str]) -> list[Candidate]:
        if not terms:
            return []
        projection = {"_id": 0, "key": 1, "headword": 1, "meaning": 1}
        found = self._entries.find({"meaning_words": {"$in": list(terms)}}, projection)
        return [Candidate(key=d["key"], headword=d["headword"], meaning=d["meaning"]) async for d in found]

    async def meaning_corpus(self) -> Corpus:
        totals = await (
            await self._entries.aggregate(
                [{"$group": {"_id": None, "entries": {"$sum": 1}, "terms": {"$avg": "$meaning_terms"}}}]
            )
        ).to_list()
        if not totals:
            return Corpus(entries=0, average_terms=0.0)
        return Corpus(entries=int(totals[0]["entries"]), average_terms=float(totals[0]["terms"] or 0.0))

    async def create(self, entry: NewEntry) -> StoredEntry | None:
        # No transaction across collections here: the tombstone goes first. Were the insert to fail, the key is
        # merely no longer protected from imports, which is what creating it again through the API means anyway.
        await self._tombstones.delete_one({"_id": entry.key})
        try:
            await self._entries.insert_one(
                {"key": entry.key, "version": 1, **_fields(entry), "source": "api", "edited": True}
            )
        except DuplicateKeyError:
            return None
        return StoredEntry(
            entry.key, entry.headword, 1, entry.content_hash, entry.content, "api", edited=True, links=entry.links
        )

    async def replace_if(self, key: str, precondition: Precondition, entry: NewEntry) -> StoredEntry | None:
        document = await self._entries.find_one_and_update(
            _matches(key, precondition),
            {"$set": {**_fields(entry), "edited": True}, "$inc": {"version": 1}},
            projection=_STORED,
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _stored(document)

    async def delete_if(self, key: str, precondition: Precondition) -> bool:
        # The tombstone goes first (no transaction across collections): an import never sees the entry gone without
        # it. When the delete matches nothing, a tombstone this call made is taken back.
        buried = await self._tombstones.update_one(
            {"_id": key}, {"$set": {"deleted_at": datetime.now(UTC)}}, upsert=True
        )
        result = await self._entries.delete_one(_matches(key, precondition))
        if result.deleted_count == 1:
            return True
        if buried.upserted_id is not None:
            await self._tombstones.delete_one({"_id": key})
        return False

    async def upsert_many(
        self, batch: Sequence[NewEntry], *, source: ImportSource, overwrite_edited: bool = False
    ) -> UpsertCounts:
        if not batch:
            return UpsertCounts()
        existing = await self._states([entry.key for entry in batch])
        absent = [entry for entry in batch if entry.key not in existing]
        buried = set() if overwrite_edited else await self._tombstoned([e.key for e in absent])
        new = [entry for entry in absent if entry.key not in buried]
        differing = [e for e in batch if e.key in existing and existing[e.key][0] != e.content_hash]
        changed = [e for e in differing if overwrite_edited or not existing[e.key][1]]
        held = [e for e in absent if e.key in buried]
        held += [e for e in differing if not overwrite_edited and existing[e.key][1]]
        provenance = {"source": source, "edited": False}
        if new:
            try:
                await self._entries.insert_many(
                    [{"key": e.key, "version": 1, **_fields(e), **provenance} for e in new], ordered=False
                )
            except BulkWriteError as error:
                # An editor or another import inserted some of these keys after our read: theirs stay (the read
                # back below reports them); anything but a duplicate key is a real failure.
                if any(item.get("code") != _DUPLICATE_KEY for item in error.details.get("writeErrors", [])):
                    raise
            if overwrite_edited:
                await self._tombstones.delete_many({"_id": {"$in": [e.key for e in new]}})
            else:
                # An entry deleted while this batch ran (its tombstone written after our read) is taken out again.
                reburied = await self._rebury(new, source)
                held += [e for e in new if e.key in reburied]
                new = [e for e in new if e.key not in reburied]
        if changed:
            # One conditional update per entry: the hash test, the edited test and the version bump are a single
            # write, so an edit committed after our read is never overwritten.
            unless_edited = {} if overwrite_edited else _NOT_EDITED
            await self._entries.bulk_write(
                [
                    UpdateOne(
                        {"key": e.key, "content_hash": {"$ne": e.content_hash}, **unless_edited},
                        {"$set": {**_fields(e), **provenance}, "$inc": {"version": 1}},
                    )
                    for e in changed
                ],
                ordered=False,
            )
        # What the conditional writes did not write (an editor got there first) is read back, to be reported.
        after = await self._states([e.key for e in new + changed]) if new or changed else {}
        return tally(batch, new=new, changed=changed, held=held, after=after)

    async def _tombstoned(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` whose entries were deleted through the API."""
        found: set[str] = set()
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[start : start + _LOOKUP_CHUNK])
            found.update([document["_id"] async for document in self._tombstones.find({"_id": {"$in": chunk}})])
        return found

    async def _rebury(self, inserted: Sequence[NewEntry], source: ImportSource) -> set[str]:
        """Delete again the documents this import just inserted whose key has a tombstone; the keys it deleted."""
        hashes = {e.key: e.content_hash for e in inserted}
        buried = await self._tombstoned(list(hashes))
        if not buried:
            return set()
        # Only our own insert: version 1, our content, our source, not edited (anything else is someone else's).
        await self._entries.bulk_write(
            [
                DeleteOne({"key": key, "content_hash": hashes[key], "version": 1, "source": source, **_NOT_EDITED})
                for key in buried
            ],
            ordered=False,
        )
        return buried - set(await self._states(list(buried)))

    async def _states(self, keys: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """Key -> (content hash, edited) of those of `keys` that are stored."""
        found: dict[str, tuple[str, bool]] = {}
        projection = {"_id": 0, "key": 1, "content_hash": 1, "edited": 1}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[start : start + _LOOKUP_CHUNK])
            async for document in self._entries.find({"key": {"$in": chunk}}, projection):
                found[document["key"]] = (document["content_hash"], bool(document.get("edited", False)))
        return found


async def backfill_provenance(database: Database) -> None:
    """Give documents stored before provenance was recorded their fields, as SQL revision 0003 does: imported from
    GCIDE, and edited when above version 1 (the conservative reading keeps an editor's work). Idempotent."""
    entries = database[ENTRIES]
    await entries.update_many({"edited": {"$exists": False}, "version": {"$gt": 1}}, {"$set": {"edited": True}})
    await entries.update_many({"edited": {"$exists": False}}, {"$set": {"edited": False}})
    await entries.update_many({"source": {"$exists": False}}, {"$set": {"source": "gcide"}})


BACKFILL_BATCH = 2000


async def _backfill(database: Database, missing: str, fields: Callable[[Document], Document]) -> None:
    """Set `fields(document)` on every entry document without the field `missing`, a batch at a time."""
    entries = database[ENTRIES]
    projection = {"_id": 1, "key": 1, "content": 1}
    while batch := await entries.find({missing: {"$exists": False}}, projection).limit(BACKFILL_BATCH).to_list():
        await entries.bulk_write([UpdateOne({"_id": d["_id"]}, {"$set": fields(d)}) for d in batch])


async def backfill_meanings(database: Database) -> None:
    """Give documents stored before reverse lookup their terms, as SQL revision 0005 does. Idempotent."""
    await _backfill(database, "meaning_words", lambda d: _meaning(meaning_text(d["content"])))


async def backfill_links(database: Database) -> None:
    """Give documents stored before links their names, as SQL revision 0006 does. Idempotent."""
    await _backfill(database, "names", lambda d: _links(stored_names(d["content"], d["key"])))
