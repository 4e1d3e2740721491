"""`ApiKeyRepository` on SQL: keys found by their public prefix, listed newest first, revoked by their owner."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.auth.repository import ApiKeyRecord
from lexica.storage.sql.auth.rows import api_key_record
from lexica.storage.sql.tables import api_keys


class SqlApiKeyRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(api_keys).values(
                    id=key.id,
                    user_id=key.user_id,
                    name=key.name,
                    prefix=key.prefix,
                    key_hash=key.key_hash,
                    created_at=key.created_at,
                    expires_at=key.expires_at,
                )
            )

    async def api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        query = select(api_keys).where(api_keys.c.prefix == prefix).where(api_keys.c.revoked_at.is_(None))
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return api_key_record(row) if row else None

    async def api_keys_of(self, user_id: str, *, before: str | None, limit: int) -> list[ApiKeyRecord]:
        query = (
            select(api_keys)
            .where(api_keys.c.user_id == user_id)
            .where(api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            anchor = select(api_keys.c.created_at).where(api_keys.c.id == before).scalar_subquery()
            query = query.where(
                (api_keys.c.created_at < anchor) | ((api_keys.c.created_at == anchor) & (api_keys.c.id < before))
            )
        async with self._engine.connect() as connection:
            return [api_key_record(row) for row in (await connection.execute(query)).all()]

    async def all_api_keys_of(self, user_id: str) -> list[ApiKeyRecord]:
        query = select(api_keys).where(api_keys.c.user_id == user_id).order_by(api_keys.c.created_at.desc())
        async with self._engine.connect() as connection:
            return [api_key_record(row) for row in (await connection.execute(query)).all()]

    async def revoke_api_key(self, user_id: str, key_id: str) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .where(api_keys.c.user_id == user_id)
                .where(api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return result.rowcount == 1

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))
