"""`ListRepository` on MongoDB: one document per list, its words embedded, every write conditional on its version.

The words live in the list's document (`words: [{key, headword, added_at}]`, at most MAX_WORDS_PER_LIST, a few
hundred KB), so a change of words and the version bump are one single-document write with `version` in its filter:
of two writers at the same version exactly one matches. Adding words reads the list first to learn which keys are
new and whether they fit, then writes the whole array back under `{_id, version}`: the version pins what was read,
so a write that matches saw exactly the state it replaces (optimistic concurrency, not read-compare-save). Removing
a word is one `$pull` under `{_id, version, "words.key": key}`. Words are listed in code-point order, sorted here.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument

from lexica.lists.repository import (
    MAX_WORDS_PER_LIST,
    ListDetails,
    ListFull,
    ListRecord,
    ListWord,
    WordRemoved,
    WordsAdded,
)
from lexica.storage.mongo.database import WORD_LISTS, Database, Document, written_time

# Inclusion projections of top-level fields only (see the package docstring on nx-27017).
_RECORD = {
    "owner_id": 1,
    "name": 1,
    "description": 1,
    "public": 1,
    "version": 1,
    "word_count": 1,
    "created_at": 1,
    "updated_at": 1,
}
_WITH_WORDS = {**_RECORD, "words": 1}


def _record(document: Document) -> ListRecord:
    return ListRecord(
        id=document["_id"],
        owner_id=document["owner_id"],
        name=document["name"],
        description=document["description"],
        public=bool(document["public"]),
        version=document["version"],
        word_count=document["word_count"],
        created_at=document["created_at"],
        updated_at=written_time(document["updated_at"]),
    )


def _word(document: Document) -> ListWord:
    return ListWord(key=document["key"], headword=document["headword"], added_at=document["added_at"])


class MongoListRepository:
    def __init__(self, database: Database) -> None:
        self._lists = database[WORD_LISTS]

    async def create_list(self, record: ListRecord) -> None:
        await self._lists.insert_one(
            {
                "_id": record.id,
                "owner_id": record.owner_id,
                "name": record.name,
                "description": record.description,
                "public": record.public,
                "version": record.version,
                "word_count": record.word_count,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
                "words": [],
            }
        )

    async def get_list(self, list_id: str) -> ListRecord | None:
        document = await self._lists.find_one({"_id": list_id}, _RECORD)
        return None if document is None else _record(document)

    async def lists_of(self, owner_id: str, *, after: str | None, limit: int) -> list[ListRecord]:
        query: Document = {"owner_id": owner_id}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self._lists.find(query, _RECORD).sort("_id", ASCENDING).limit(limit)
        return [_record(document) async for document in cursor]

    async def update_list_if(
        self, list_id: str, version: int, details: ListDetails, now: datetime
    ) -> ListRecord | None:
        document = await self._lists.find_one_and_update(
            {"_id": list_id, "version": version},
            {
                "$set": {
                    "name": details.name,
                    "description": details.description,
                    "public": details.public,
                    "updated_at": now,
                },
                "$inc": {"version": 1},
            },
            projection=_RECORD,
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _record(document)

    async def delete_list_if(self, list_id: str, version: int) -> bool:
        result = await self._lists.delete_one({"_id": list_id, "version": version})
        return result.deleted_count == 1

    async def add_words_if(
        self, list_id: str, version: int, words: Sequence[ListWord], now: datetime
    ) -> WordsAdded | None:
        current = await self._lists.find_one({"_id": list_id, "version": version}, _WITH_WORDS)
        if current is None:
            return None  # missing or stale
        stored: list[Document] = current["words"]
        present = {word["key"] for word in stored}
        new: list[Document] = []
        for word in words:
            if word.key not in present:  # the first of each key
                present.add(word.key)
                new.append({"key": word.key, "headword": word.headword, "added_at": word.added_at})
        if not new:
            return WordsAdded(list=_record(current), added=0)
        if len(stored) + len(new) > MAX_WORDS_PER_LIST:
            raise ListFull
        # `$set` of the whole array rather than `$push`: see the package docstring on nx-27017.
        document = await self._lists.find_one_and_update(
            {"_id": list_id, "version": version},
            {
                "$set": {"words": stored + new, "word_count": len(stored) + len(new), "updated_at": now},
                "$inc": {"version": 1},
            },
            projection=_RECORD,
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else WordsAdded(list=_record(document), added=len(new))

    async def remove_word_if(self, list_id: str, version: int, key: str, now: datetime) -> WordRemoved | None:
        document = await self._lists.find_one_and_update(
            {"_id": list_id, "version": version, "words.key": key},
            {"$pull": {"words": {"key": key}}, "$inc": {"version": 1, "word_count": -1}, "$set": {"updated_at": now}},
            projection=_RECORD,
            return_document=ReturnDocument.AFTER,
        )
        if document is not None:
            return WordRemoved(list=_record(document), removed=True)
        # Nothing matched: missing, stale, or (still at `version`, so read in the same state) without that word.
        current = await self._lists.find_one({"_id": list_id, "version": version}, _RECORD)
        return None if current is None else WordRemoved(list=_record(current), removed=False)

    async def list_words(self, list_id: str, *, after: str | None, limit: int) -> list[ListWord]:
        document = await self._lists.find_one({"_id": list_id}, {"words": 1})
        if document is None:
            return []
        words = sorted((_word(word) for word in document["words"]), key=lambda word: word.key)  # code-point order
        start = 0 if after is None else bisect.bisect_right(words, after, key=lambda word: word.key)
        return words[start : start + limit]

    async def delete_lists_of(self, owner_id: str) -> int:
        result = await self._lists.delete_many({"owner_id": owner_id})
        return result.deleted_count
