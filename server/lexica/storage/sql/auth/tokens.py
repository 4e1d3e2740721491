"""`TokenRepository` on SQL: refresh tokens, each used once, revoked by family."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.auth.repository import RefreshRecord
from lexica.storage.sql.auth.rows import refresh_record
from lexica.storage.sql.tables import refresh_tokens


class SqlTokenRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, expires_at: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(refresh_tokens).values(
                    token_hash=token_hash, family_id=family_id, user_id=user_id, expires_at=expires_at
                )
            )

    async def consume_refresh_token(self, token_hash: str, now: datetime) -> str | None:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.token_hash == token_hash)
                .where(refresh_tokens.c.used_at.is_(None))
                .where(refresh_tokens.c.revoked_at.is_(None))
                .where(refresh_tokens.c.expires_at > now)
                .values(used_at=now)
                .returning(refresh_tokens.c.family_id)
            )
            family = result.scalar_one_or_none()
        return str(family) if family is not None else None

    async def refresh_token(self, token_hash: str, now: datetime) -> RefreshRecord | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash))
            ).first()
        return None if row is None else refresh_record(row, now)

    async def revoke_family(self, family_id: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.family_id == family_id)
                .where(refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )

    async def family_revoked(self, family_id: str) -> bool:
        query = select(
            exists().where(refresh_tokens.c.family_id == family_id).where(refresh_tokens.c.revoked_at.is_not(None))
        )
        async with self._engine.connect() as connection:
            return bool((await connection.execute(query)).scalar())
