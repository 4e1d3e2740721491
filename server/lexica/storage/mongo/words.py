"""`WordRepository` on MongoDB: one document per entry, conditional writes with the precondition in the filter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from lexica.storage.mongo.database import ENTRIES, Database, Document
from lexica.words.keys import prefix_upper_bound
from lexica.words.repository import HeadwordRow, IndexRow, NewEntry, Precondition, StoredEntry, UpsertCounts

_STORED = {"_id": 0, "key": 1, "headword": 1, "version": 1, "content_hash": 1, "content": 1}
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
    )


def _fields(entry: NewEntry) -> Document:
    return {
        "headword": entry.headword,
        "content": entry.content,
        "content_hash": entry.content_hash,
        "weight": entry.weight,
        "updated_at": datetime.now(UTC),
    }


class MongoWordRepository:
    def __init__(self, database: Database) -> None:
        self._entries = database[ENTRIES]

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
        cursor = self._entries.find({}, {"_id": 0, "key": 1, "headword": 1, "weight": 1}).sort("key", ASCENDING)
        return [IndexRow(key=d["key"], headword=d["headword"], weight=d["weight"]) async for d in cursor]

    async def count(self) -> int:
        return await self._entries.count_documents({})

    async def create(self, entry: NewEntry) -> StoredEntry | None:
        try:
            await self._entries.insert_one({"key": entry.key, "version": 1, **_fields(entry)})
        except DuplicateKeyError:
            return None
        return StoredEntry(entry.key, entry.headword, 1, entry.content_hash, entry.content)

    async def replace_if(self, key: str, precondition: Precondition, entry: NewEntry) -> StoredEntry | None:
        document = await self._entries.find_one_and_update(
            _matches(key, precondition),
            {"$set": _fields(entry), "$inc": {"version": 1}},
            projection=_STORED,
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _stored(document)

    async def delete_if(self, key: str, precondition: Precondition) -> bool:
        result = await self._entries.delete_one(_matches(key, precondition))
        return result.deleted_count == 1

    async def upsert_many(self, batch: Sequence[NewEntry]) -> UpsertCounts:
        if not batch:
            return UpsertCounts()
        existing: dict[str, str] = {}
        keys = [entry.key for entry in batch]
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            async for document in self._entries.find({"key": {"$in": chunk}}, {"_id": 0, "key": 1, "content_hash": 1}):
                existing[document["key"]] = document["content_hash"]
        new = [entry for entry in batch if entry.key not in existing]
        changed = [entry for entry in batch if entry.key in existing and existing[entry.key] != entry.content_hash]
        if new:
            await self._entries.insert_many([{"key": e.key, "version": 1, **_fields(e)} for e in new], ordered=False)
        if changed:
            # One conditional update per entry: the hash test and the version bump are a single write.
            await self._entries.bulk_write(
                [
                    UpdateOne(
                        {"key": e.key, "content_hash": {"$ne": e.content_hash}},
                        {"$set": _fields(e), "$inc": {"version": 1}},
                    )
                    for e in changed
                ],
                ordered=False,
            )
        return UpsertCounts(inserted=len(new), updated=len(changed), unchanged=len(batch) - len(new) - len(changed))
