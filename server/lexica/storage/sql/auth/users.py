"""`UserRepository` on SQL: accounts, roles (never the last admin away), two-factor state and recovery codes."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lexica.auth.repository import UserRecord
from lexica.storage.sql.auth.rows import user_record
from lexica.storage.sql.tables import api_keys, recovery_codes, refresh_tokens, users


async def _lock_admins(connection: AsyncConnection) -> None:
    """On PostgreSQL, lock the admin rows (in id order) before a write that may remove an admin.

    Under READ COMMITTED two statements that each check "another admin remains" from their own snapshot can both
    pass (write skew). Holding the admin rows makes the second wait and re-read them. SQLite needs no lock: it runs
    one write transaction at a time, and the check is part of the write.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(
            select(users.c.id).where(users.c.role == "admin").order_by(users.c.id).with_for_update()
        )


_DEADLOCK_ATTEMPTS = range(1, 7)
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


async def _retryable(exc: DBAPIError, attempt: int) -> bool:
    """PostgreSQL rolled the whole transaction back to break a deadlock (the FK cascades of a user's rows can cross
    another transaction's locks): running it again is safe, since nothing of it was kept. Waits a random few
    milliseconds first, more after each attempt, so that the transactions that collided do not collide again."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate not in _RETRYABLE_SQLSTATES or attempt >= _DEADLOCK_ATTEMPTS[-1]:
        return False
    await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not a secret
    return True


class SqlUserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_user(self, user: UserRecord) -> bool:
        values = {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "password_hash": user.password_hash,
            "role": user.role,
            "created_at": user.created_at,
            "totp_secret": user.totp_secret,
            "totp_confirmed": user.totp_confirmed,
            "totp_last_step": user.totp_last_step,
        }
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(users).values(**values))
        except IntegrityError:
            return False
        return True

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(users).where(users.c.id == user_id))).first()
        return user_record(row) if row else None

    async def user_by_email(self, email: str) -> UserRecord | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(users).where(users.c.email == email))).first()
        return user_record(row) if row else None

    async def any_admin(self) -> bool:
        async with self._engine.connect() as connection:
            return bool((await connection.execute(select(exists().where(users.c.role == "admin")))).scalar())

    async def set_role(self, user_id: str, role: str, *, actor_id: str | None = None) -> bool:
        statement = update(users).where(users.c.id == user_id).values(role=role)
        if actor_id is not None:
            # One conditional write: the actor must still be an admin when the change is made, and a demotion
            # must leave another admin, so two admins demoting each other at once cannot both succeed.
            others = users.alias("others")
            statement = statement.where(
                select(others.c.id).where(others.c.id == actor_id, others.c.role == "admin").exists()
            )
            if role != "admin":
                statement = statement.where(
                    select(others.c.id).where(others.c.role == "admin", others.c.id != user_id).exists()
                )
        for attempt in _DEADLOCK_ATTEMPTS:
            try:
                async with self._engine.begin() as connection:
                    if role != "admin":
                        await _lock_admins(connection)
                    result = await connection.execute(statement)
                return result.rowcount == 1
            except DBAPIError as exc:
                if not await _retryable(exc, attempt):
                    raise
        raise AssertionError("unreachable")

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

    async def set_totp(self, user_id: str, sealed_secret: str | None, confirmed: bool) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_secret=sealed_secret, totp_confirmed=confirmed, totp_last_step=None)
            )
            if sealed_secret is None:
                await connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .where((users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step))
                .values(totp_last_step=step)
            )
        return result.rowcount == 1

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str]) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
            await connection.execute(
                insert(recovery_codes), [{"user_id": user_id, "code_hash": h} for h in code_hashes]
            )

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        async with self._engine.begin() as connection:
            target = (
                select(recovery_codes.c.id)
                .where(recovery_codes.c.user_id == user_id)
                .where(recovery_codes.c.code_hash == code_hash)
                .where(recovery_codes.c.used_at.is_(None))
                .limit(1)
                .scalar_subquery()
            )
            result = await connection.execute(
                update(recovery_codes)
                .where(recovery_codes.c.id == target)
                .where(recovery_codes.c.used_at.is_(None))
                .values(used_at=datetime.now(UTC))
            )
        return result.rowcount == 1

    async def delete_user(self, user_id: str) -> bool:
        others = users.alias("others")
        keeps_an_admin = (users.c.role != "admin") | (
            select(others.c.id).where(others.c.role == "admin", others.c.id != user_id).exists()
        )
        for attempt in _DEADLOCK_ATTEMPTS:
            try:
                async with self._engine.begin() as connection:
                    await _lock_admins(connection)
                    # The user row goes first, conditionally: the last admin is not deleted (and keeps their keys).
                    result = await connection.execute(delete(users).where(users.c.id == user_id).where(keeps_an_admin))
                    if result.rowcount != 1:
                        return False
                    # What they own goes in the same transaction, the other ports' rows included (tokens, keys).
                    for table in (recovery_codes, refresh_tokens, api_keys):
                        await connection.execute(delete(table).where(table.c.user_id == user_id))
                return True
            except DBAPIError as exc:
                if not await _retryable(exc, attempt):
                    raise
        raise AssertionError("unreachable")
