"""The auth domain's ports on MongoDB, one adapter per port. Every check-then-change is one conditional
single-document write (`users.py` says how "an admin remains" holds without transactions)."""

from __future__ import annotations

from lexica.auth.repository import AuthStorage
from lexica.storage.mongo.auth.api_keys import MongoApiKeyRepository
from lexica.storage.mongo.auth.audit import MongoAuditRepository
from lexica.storage.mongo.auth.tokens import MongoTokenRepository
from lexica.storage.mongo.auth.users import MongoUserRepository
from lexica.storage.mongo.database import Database

__all__ = [
    "MongoApiKeyRepository",
    "MongoAuditRepository",
    "MongoTokenRepository",
    "MongoUserRepository",
    "mongo_auth_storage",
]


def mongo_auth_storage(database: Database) -> AuthStorage:
    return AuthStorage(
        users=MongoUserRepository(database),
        tokens=MongoTokenRepository(database),
        api_keys=MongoApiKeyRepository(database),
        audit=MongoAuditRepository(database),
    )
