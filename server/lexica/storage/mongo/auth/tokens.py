"""`TokenRepository` on MongoDB: refresh tokens, each used once, revoked by family."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ReturnDocument

from lexica.auth.repository import RefreshRecord
from lexica.storage.mongo.auth.documents import refresh_record
from lexica.storage.mongo.database import REFRESH_TOKENS, Database


class MongoTokenRepository:
    def __init__(self, database: Database) -> None:
        self._refresh_tokens = database[REFRESH_TOKENS]

    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, expires_at: datetime) -> None:
        await self._refresh_tokens.insert_one(
            {
                "_id": token_hash,
                "family_id": family_id,
                "user_id": user_id,
                "created_at": datetime.now(UTC),
                "expires_at": expires_at,
                "used_at": None,
                "revoked_at": None,
            }
        )

    async def consume_refresh_token(self, token_hash: str, now: datetime) -> str | None:
        document = await self._refresh_tokens.find_one_and_update(
            {"_id": token_hash, "used_at": None, "revoked_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            projection={"family_id": 1},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else str(document["family_id"])

    async def refresh_token(self, token_hash: str, now: datetime) -> RefreshRecord | None:
        document = await self._refresh_tokens.find_one({"_id": token_hash})
        return None if document is None else refresh_record(document, now)

    async def revoke_family(self, family_id: str) -> None:
        await self._refresh_tokens.update_many(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )

    async def family_revoked(self, family_id: str) -> bool:
        revoked = {"family_id": family_id, "revoked_at": {"$ne": None}}  # revoked_at is always stored, null until set
        return await self._refresh_tokens.count_documents(revoked, limit=1) == 1
