"""`AuditRepository` on SQL: an append-only log with increasing ids, read newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.auth.repository import AuditRecord
from lexica.storage.sql.auth.rows import audit_record
from lexica.storage.sql.tables import audit_events


class SqlAuditRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

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
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(audit_events).values(
                    occurred_at=now,
                    action=action,
                    actor_id=actor_id,
                    subject_id=subject_id,
                    client_ip=client_ip,
                    detail=detail,
                )
            )

    async def events(self, *, before: int | None, limit: int) -> list[AuditRecord]:
        query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_events.c.id < before)
        async with self._engine.connect() as connection:
            return [audit_record(row) for row in (await connection.execute(query)).all()]

    async def events_about(self, user_id: str) -> list[AuditRecord]:
        query = (
            select(audit_events)
            .where((audit_events.c.actor_id == user_id) | (audit_events.c.subject_id == user_id))
            .order_by(audit_events.c.id.desc())
        )
        async with self._engine.connect() as connection:
            return [audit_record(row) for row in (await connection.execute(query)).all()]
