"""The storage ports of the auth domain: users, refresh tokens, API keys and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    display_name: str | None
    password_hash: str
    role: str
    created_at: datetime
    totp_secret: str | None  # sealed
    totp_confirmed: bool
    totp_last_step: int | None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    family_id: str
    user_id: str
    used: bool
    revoked: bool
    expired: bool


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    user_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    occurred_at: datetime
    action: str
    actor_id: str | None
    subject_id: str | None
    client_ip: str | None
    detail: str | None


class UserRepository(Protocol):
    async def create_user(self, user: UserRecord) -> bool:
        """Insert; False when the email is taken."""
        ...

    async def user_by_id(self, user_id: str) -> UserRecord | None: ...

    async def user_by_email(self, email: str) -> UserRecord | None: ...

    async def any_admin(self) -> bool: ...

    async def set_role(self, user_id: str, role: str, *, actor_id: str | None = None) -> bool:
        """Change the role; with `actor_id`, only while the actor is an admin and an admin would remain."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def set_totp(self, user_id: str, sealed_secret: str | None, confirmed: bool) -> None: ...

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used if it is newer than the last used one, atomically; False on replay."""
        ...

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str]) -> None: ...

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Mark an unused code as used, atomically; False if there is no such unused code."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Erase the user and everything that belongs to them; False (nothing erased) for the last admin."""
        ...


class TokenRepository(Protocol):
    async def add_refresh_token(self, token_hash: str, family_id: str, user_id: str, expires_at: datetime) -> None: ...

    async def consume_refresh_token(self, token_hash: str, now: datetime) -> str | None:
        """Mark a valid, unused token as used in one conditional write; its family id, or None."""
        ...

    async def refresh_token(self, token_hash: str, now: datetime) -> RefreshRecord | None: ...

    async def revoke_family(self, family_id: str) -> None: ...

    async def family_revoked(self, family_id: str) -> bool: ...


class ApiKeyRepository(Protocol):
    async def add_api_key(self, key: ApiKeyRecord) -> None: ...

    async def api_key_by_prefix(self, prefix: str) -> ApiKeyRecord | None: ...

    async def api_keys_of(self, user_id: str, *, before: str | None, limit: int) -> list[ApiKeyRecord]:
        """Newest first; `before` is the id of the last key of the previous page."""
        ...

    async def all_api_keys_of(self, user_id: str) -> list[ApiKeyRecord]: ...

    async def revoke_api_key(self, user_id: str, key_id: str) -> bool: ...

    async def touch_api_key(self, key_id: str, now: datetime) -> None: ...


class AuditRepository(Protocol):
    async def record(
        self,
        action: str,
        *,
        actor_id: str | None,
        subject_id: str | None,
        client_ip: str | None,
        detail: str | None,
        now: datetime,
    ) -> None: ...

    async def events(self, *, before: int | None, limit: int) -> list[AuditRecord]:
        """Newest first; `before` is the id of the last event of the previous page."""
        ...

    async def events_about(self, user_id: str) -> list[AuditRecord]: ...


@dataclass(frozen=True, slots=True)
class AuthStorage:
    """Everything the auth domain stores, one port each; every backend has one adapter per port."""

    users: UserRepository
    tokens: TokenRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository
