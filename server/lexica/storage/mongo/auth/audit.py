"""`AuditRepository` on MongoDB: an append-only log with increasing ids from a counter document, read newest
first."""

from __future__ import annotations

from datetime import datetime

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from lexica.auth.repository import AuditRecord
from lexica.storage.mongo.auth.documents import audit_record
from lexica.storage.mongo.database import AUDIT_EVENTS, COUNTERS, Database, Document


class MongoAuditRepository:
    def __init__(self, database: Database) -> None:
        self._audit_events = database[AUDIT_EVENTS]
        self._counters = database[COUNTERS]

    async def _next_event_id(self) -> int:
        """Increasing ids from one counter document; an id taken by a write that then fails is a gap, as in SQL."""
        try:
            counter = await self._counters.find_one_and_update(
                {"_id": AUDIT_EVENTS}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # two first upserts at once on a server that does not retry them itself
            counter = await self._counters.find_one_and_update(
                {"_id": AUDIT_EVENTS}, {"$inc": {"seq": 1}}, return_document=ReturnDocument.AFTER
            )
        assert counter is not None
        return int(counter["seq"])

    async def record(
        self,
        action: str,
        *,
        actor_id: str | None,
        subject_id: str | None,
        client_ip: str | None,
        detail: str | None,
        now: datetime,
    ) -> None:
        await self._audit_events.insert_one(
            {
                "_id": await self._next_event_id(),
                "occurred_at": now,
                "action": action,
                "actor_id": actor_id,
                "subject_id": subject_id,
                "client_ip": client_ip,
                "detail": detail,
            }
        )

    async def events(self, *, before: int | None, limit: int) -> list[AuditRecord]:
        query: Document = {} if before is None else {"_id": {"$lt": before}}
        cursor = self._audit_events.find(query).sort("_id", DESCENDING).limit(limit)
        return [audit_record(document) async for document in cursor]

    async def events_about(self, user_id: str) -> list[AuditRecord]:
        query = {"$or": [{"actor_id": user_id}, {"subject_id": user_id}]}
        return [audit_record(document) async for document in self._audit_events.find(query).sort("_id", DESCENDING)]
