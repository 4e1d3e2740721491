"""The auth domain's ports on SQLAlchemy 2 async, one adapter per port. Every check-then-change is one conditional
statement."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.auth.repository import AuthStorage
from lexica.storage.sql.auth.api_keys import SqlApiKeyRepository
from lexica.storage.sql.auth.audit import SqlAuditRepository
from lexica.storage.sql.auth.tokens import SqlTokenRepository
from lexica.storage.sql.auth.users import SqlUserRepository

__all__ = ["SqlApiKeyRepository", "SqlAuditRepository", "SqlTokenRepository", "SqlUserRepository", "sql_auth_storage"]


def sql_auth_storage(engine: AsyncEngine) -> AuthStorage:
    return AuthStorage(
        users=SqlUserRepository(engine),
        tokens=SqlTokenRepository(engine),
        api_keys=SqlApiKeyRepository(engine),
        audit=SqlAuditRepository(engine),
    )
