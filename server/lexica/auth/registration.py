"""Sign-up, and the first admin created from settings."""

from __future__ import annotations

import asyncio
import logging
import uuid

from lexica.auth import passwords
from lexica.auth.audit_log import AuditLog
from lexica.auth.emails import check_new_email, normalise_email
from lexica.auth.repository import UserRecord, UserRepository
from lexica.platform.clock import utc_now
from lexica.platform.problems import ProblemError
from lexica.platform.security import Role

logger = logging.getLogger("lexica.auth")


class Registration:
    def __init__(self, users: UserRepository, audit: AuditLog) -> None:
        self._users = users
        self._audit = audit

    async def register(
        self, email: str, password: str, display_name: str | None, role: Role = Role.READER
    ) -> UserRecord:
        email = normalise_email(email)
        check_new_email(email)
        passwords.check_new_password(password, email)
        # argon2id takes ~100 ms of CPU and releases the GIL: hash in a worker thread, not on the event loop.
        password_hash = await asyncio.to_thread(passwords.hash_password, password)
        user = UserRecord(
            id=str(uuid.uuid4()),
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            role=role.label,
            created_at=utc_now(),
            totp_secret=None,
            totp_confirmed=False,
            totp_last_step=None,
        )
        if not await self._users.create_user(user):
            raise ProblemError(409, "An account with this email already exists.", slug="email-taken", title="Conflict")
        await self._audit.record("user.registered", actor_id=user.id, subject_id=user.id, detail=f"role={role.label}")
        return user

    async def bootstrap_admin(self, email: str, password: str) -> bool:
        """Create the first admin from settings when no admin exists; True if one was created."""
        if await self._users.any_admin():
            return False
        existing = await self._users.user_by_email(normalise_email(email))
        if existing is not None:
            # Emails are not verified: promote an existing account only if it proves to be the configured one.
            if not await asyncio.to_thread(passwords.verify_password, existing.password_hash, password):
                logger.error("first admin not created: %s is registered with another password", existing.id)
                return False
            await self._users.set_role(existing.id, Role.ADMIN.label)
            await self._audit.record("admin.bootstrapped", subject_id=existing.id, detail="promoted existing account")
            return True
        try:
            user = await self.register(email, password, None, Role.ADMIN)
        except ProblemError as error:
            if error.status == 422:
                raise RuntimeError(f"LEXICA_FIRST_ADMIN_PASSWORD is not acceptable: {error.detail}") from None
            if error.status != 409:
                raise
            # Another instance starting at the same time created the account first; make sure it is an admin.
            raced = await self._users.user_by_email(normalise_email(email))
            if raced is not None and raced.role != Role.ADMIN.label:
                await self._users.set_role(raced.id, Role.ADMIN.label)
            return False
        await self._audit.record("admin.bootstrapped", subject_id=user.id, detail="created from settings")
        return True
