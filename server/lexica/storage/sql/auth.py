"""`AuthRepository` on SQLAlchemy 2 async. Every check-then-change is one conditional statement."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lexica.auth.repository import ApiKeyRecord, AuditRecord, RefreshRecord, UserRecord
from lexica.storage.sql.tables import api_keys, audit_events, recovery_codes, refresh_tokens, users


def _user(row: Row[tuple[object, ...]]) -> UserRecord:
    m = row._mapping
    return UserRecord(
        id=m["id"],
        email=m["email"],
        display_name=m["display_name"],
        password_hash=m["password_hash"],
        role=m["role"],
        created_at=m["created_at"],
        totp_secret=m["totp_secret"],
        totp_confirmed=bool(m["totp_confirmed"]),
        totp_last_step=m["totp_last_step"],
    )


def _key(row: Row[tuple[object, ...]]) -> ApiKeyRecord:
    m = row._mapping
    return ApiKeyRecord(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        prefix=m["prefix"],
        key_hash=m["key_hash"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        expires_at=m["expires_at"],
    )


def _event(row: Row[tuple[object, ...]]) -> AuditRecord:
    m = row._mapping
    return AuditRecord(
        id=m["id"],
        occurred_at=m["occurred_at"],
        action=m["action"],
        actor_id=m["actor_id"],
        subject_id=m["subject_id"],
        client_ip=m["client_ip"],
        detail=m["detail"],
    )


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


class SqlAuthRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # users
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
        return _user(row) if row else None

    async def user_by_email(self, email: str) -> UserRecord | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(users).where(users.c.email == email))).first()
        return _user(row) if row else None

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
                    for table in (recovery_codes, refresh_tokens, api_keys):
                        await connection.execute(delete(table).where(table.c.user_id == user_id))
                return True
            except DBAPIError as exc:
                if not await _retryable(exc, attempt):
                    raise
        raise AssertionError("unreachable")

    # refresh tokens
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
        if row is None:
            return None
        m = row._mapping
        return RefreshRecord(
            family_id=m["family_id"],
            user_id=m["user_id"],
            used=m["used_at"] is not None,
            revoked=m["revoked_at"] is not None,
            expired=m["expires_at"] <= now,
        )

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

    # API keys
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
        return _key(row) if row else None

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
            return [_key(row) for row in (await connection.execute(query)).all()]

    async def all_api_keys_of(self, user_id: str) -> list[ApiKeyRecord]:
        query = select(api_keys).where(api_keys.c.user_id == user_id).order_by(api_keys.c.created_at.desc())
        async with self._engine.connect() as connection:
            return [_key(row) for row in (await connection.execute(query)).all()]

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

    # audit
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
            return [_event(row) for row in (await connection.execute(query)).all()]

    async def events_about(self, user_id: str) -> list[AuditRecord]:
        query = (
            select(audit_events)
            .where((audit_events.c.actor_id == user_id) | (audit_events.c.subject_id == user_id))
            .order_by(audit_events.c.id.desc())
        )
        async with self._engine.connect() as connection:
            return [_event(row) for row in (await connection.execute(query)).all()]
