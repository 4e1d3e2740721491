"""`ApiKeyRepository` on MongoDB: keys found by their public prefix, listed newest first, revoked by their owner."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import DESCENDING

from lexica.auth.repository import ApiKeyRecord
from lexica.storage.mongo.auth.documents import api_key_record
from lexica.storage.mongo.database import API_KEYS, Database, Document


class MongoApiKeyRepository:
    def __init__(self, database: Database) -> None:
        self._api_keys = database[API_KEYS]

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        await self._api_keys.insert_one(
            {
                "_id": key.id,
                "user_id": key.user_id,
                "name": key.name,
                "prefix": key.prefix,
                "key_hash": key.key_hash,
                "created_at": key.created_at,
                "last_used_at": None,
                "expires_at": key.expires_at,
                "revoked_at": None,
            }
        )

    async def api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        document = await self._api_keys.find_one({"prefix": prefix, "revoked_at": None})
        return None if document is None else api_key_record(document)

    async def api_keys_of(self, user_id: str, *, before: str | None, limit: int) -> list[ApiKeyRecord]:
        query: Document = {"user_id": user_id, "revoked_at": None}
        if before is not None:
            anchor = await self._api_keys.find_one({"_id": before}, {"created_at": 1})
            if anchor is None:
                return []  # as SQL: comparisons with a missing anchor match nothing
            query["$or"] = [
                {"created_at": {"$lt": anchor["created_at"]}},
                {"created_at": anchor["created_at"], "_id": {"$lt": before}},
            ]
        cursor = self._api_keys.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [api_key_record(document) async for document in cursor]

    async def all_api_keys_of(self, user_id: str) -> list[ApiKeyRecord]:
        cursor = self._api_keys.find({"user_id": user_id}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return [api_key_record(document) async for document in cursor]

    async def revoke_api_key(self, user_id: str, key_id: str) -> bool:
        result = await self._api_keys.update_one(
            {"_id": key_id, "user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )
        return result.modified_count == 1

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        await self._api_keys.update_one({"_id": key_id}, {"$set": {"last_used_at": now}})
