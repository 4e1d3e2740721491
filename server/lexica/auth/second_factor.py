"""The second factor: TOTP secrets sealed at rest, recovery codes stored as keyed hashes, and the sign-in check."""

from __future__ import annotations

import hmac

from lexica.auth import totp
from lexica.auth.audit_log import AuditLog
from lexica.auth.repository import UserRecord, UserRepository
from lexica.auth.tokens import derive_key


class SecondFactor:
    def __init__(self, users: UserRepository, audit: AuditLog, *, secret: str) -> None:
        self._users = users
        self._audit = audit
        self._box = totp.SecretBox(secret)
        self._recovery_key = derive_key(secret, "recovery-codes")

    @property
    def box(self) -> totp.SecretBox:
        return self._box

    def recovery_hash(self, code: str) -> str:
        return hmac.new(self._recovery_key, code.strip().lower().encode(), "sha256").hexdigest()

    async def accepts(self, user: UserRecord, otp: str | None) -> bool:
        """Whether `otp` is a current TOTP code not used before, or an unused recovery code (then used up)."""
        if not otp:
            return False
        assert user.totp_secret is not None
        step = totp.matching_step(self._box.open(user.totp_secret), otp.strip())
        if step is not None:
            # One conditional write: a code seen before (same or older step) is refused, also under races.
            return await self._users.advance_totp_step(user.id, step)
        if await self._users.use_recovery_code(user.id, self.recovery_hash(otp)):
            await self._audit.record("mfa.recovery_code_used", actor_id=user.id, subject_id=user.id)
            return True
        return False
