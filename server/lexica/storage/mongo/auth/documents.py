"""Documents of the auth collections as the records of the auth ports."""

from __future__ import annotations

from datetime import datetime

from lexica.auth.repository import ApiKeyRecord, AuditRecord, RefreshRecord, UserRecord
from lexica.storage.mongo.database import Document, written_time

USER_FIELDS = {  # a user document without its recovery codes
    "email": 1,
    "display_name": 1,
    "password_hash": 1,
    "role": 1,
    "created_at": 1,
    "totp_secret": 1,
    "totp_confirmed": 1,
    "totp_last_step": 1,
}


def user_record(document: Document) -> UserRecord:
    return UserRecord(
        id=document["_id"],
        email=document["email"],
        display_name=document["display_name"],
        password_hash=document["password_hash"],
        role=document["role"],
        created_at=document["created_at"],
        totp_secret=document["totp_secret"],
        totp_confirmed=bool(document["totp_confirmed"]),
        totp_last_step=document["totp_last_step"],
    )


def refresh_record(document: Document, now: datetime) -> RefreshRecord:
    return RefreshRecord(
        family_id=document["family_id"],
        user_id=document["user_id"],
        used=document["used_at"] is not None,
        revoked=document["revoked_at"] is not None,
        expired=document["expires_at"] <= now,
    )


def api_key_record(document: Document) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=document["_id"],
        user_id=document["user_id"],
        name=document["name"],
        prefix=document["prefix"],
        key_hash=document["key_hash"],
        created_at=document["created_at"],
        last_used_at=None if document["last_used_at"] is None else written_time(document["last_used_at"]),
        expires_at=document["expires_at"],
    )


def audit_record(document: Document) -> AuditRecord:
    return AuditRecord(
        id=document["_id"],
        occurred_at=document["occurred_at"],
        action=document["action"],
        actor_id=document["actor_id"],
        subject_id=document["subject_id"],
        client_ip=document["client_ip"],
        detail=document["detail"],
    )
