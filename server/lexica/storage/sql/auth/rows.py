"""Rows of the auth tables as the records of the auth ports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Row

from lexica.auth.repository import ApiKeyRecord, AuditRecord, RefreshRecord, UserRecord


def user_record(row: Row[tuple[object, ...]]) -> UserRecord:
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


def refresh_record(row: Row[tuple[object, ...]], now: datetime) -> RefreshRecord:
    m = row._mapping
    return RefreshRecord(
        family_id=m["family_id"],
        user_id=m["user_id"],
        used=m["used_at"] is not None,
        revoked=m["revoked_at"] is not None,
        expired=m["expires_at"] <= now,
    )


def api_key_record(row: Row[tuple[object, ...]]) -> ApiKeyRecord:
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


def audit_record(row: Row[tuple[object, ...]]) -> AuditRecord:
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
