"""The signed-in user's account: profile, export, deletion, two-factor authentication and API keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from lexica.auth import totp
from lexica.auth.audit_log import AuditLog
from lexica.auth.repository import ApiKeyRecord, ApiKeyRepository, AuditRecord, UserRecord, UserRepository
from lexica.auth.second_factor import SecondFactor
from lexica.auth.tokens import digest, new_api_key
from lexica.platform.clock import utc_now
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.security import Principal, Role


@dataclass(frozen=True, slots=True)
class Export:
    user: UserRecord
    api_keys: list[ApiKeyRecord]
    audit_events: list[AuditRecord]


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, slug="conflict", title="Conflict")


def invalid_code() -> ProblemError:
    return validation_problem(
        "The code is wrong, expired or was already used.",
        field_error(["body", "code"], "Invalid one-time code.", "invalid_code"),
    )


# Bounds what one account can store (OWASP API4); checked before the insert, so a concurrent burst may overshoot.
MAX_API_KEYS_PER_USER = 50
_KEYS_CONSIDERED = 20 * MAX_API_KEYS_PER_USER  # expired keys stay listed until revoked


def _expired(key: ApiKeyRecord, now: datetime) -> bool:
    return key.expires_at is not None and key.expires_at <= now


class AccountService:
    def __init__(
        self, users: UserRepository, api_keys: ApiKeyRepository, audit: AuditLog, second_factor: SecondFactor
    ) -> None:
        self._users = users
        self._api_keys = api_keys
        self._audit = audit
        self._second_factor = second_factor

    async def user(self, principal: Principal) -> UserRecord:
        user = await self._users.user_by_id(principal.user_id)
        if user is None:  # deleted between authentication and now
            raise ProblemError(401, "The account no longer exists.", slug="unauthorized", title="Unauthorized")
        return user

    async def export(self, principal: Principal) -> Export:
        user = await self.user(principal)
        return Export(
            user=user,
            api_keys=await self._api_keys.all_api_keys_of(user.id),
            audit_events=await self._audit.events_about(user.id),
        )

    async def delete(self, principal: Principal) -> None:
        if not await self._users.delete_user(principal.user_id):
            raise conflict("The last admin cannot delete their account; make another user admin first.")
        await self._audit.record("user.deleted", actor_id=principal.user_id, subject_id=principal.user_id)

    # two-factor authentication
    async def enrol_totp(self, principal: Principal) -> tuple[str, str]:
        user = await self.user(principal)
        if user.totp_confirmed:
            raise conflict("Two-factor authentication is already on; turn it off first.")
        secret = totp.new_secret()
        await self._users.set_totp(user.id, self._second_factor.box.seal(secret), confirmed=False)
        return secret, totp.provisioning_uri(secret, user.email)

    async def _check_code(self, user: UserRecord, code: str) -> None:
        if user.totp_secret is None:
            raise conflict("Two-factor enrolment has not been started.")
        step = totp.matching_step(self._second_factor.box.open(user.totp_secret), code)
        if step is None or not await self._users.advance_totp_step(user.id, step):
            raise invalid_code()

    async def confirm_totp(self, principal: Principal, code: str) -> list[str]:
        user = await self.user(principal)
        if user.totp_confirmed:
            raise conflict("Two-factor authentication is already on.")
        await self._check_code(user, code)
        await self._users.set_totp(user.id, user.totp_secret, confirmed=True)
        # set_totp resets the last used step; record this code's use again so it cannot log in too.
        step = totp.matching_step(self._second_factor.box.open(user.totp_secret or ""), code)
        if step is not None:
            await self._users.advance_totp_step(user.id, step)
        codes = totp.new_recovery_codes()
        await self._users.replace_recovery_codes(user.id, [self._second_factor.recovery_hash(c) for c in codes])
        await self._audit.record("mfa.enabled", actor_id=user.id, subject_id=user.id)
        return codes

    async def disable_totp(self, principal: Principal, code: str) -> None:
        user = await self.user(principal)
        if not user.totp_confirmed:
            raise conflict("Two-factor authentication is not on.")
        await self._check_code(user, code)
        await self._users.set_totp(user.id, None, confirmed=False)
        await self._audit.record("mfa.disabled", actor_id=user.id, subject_id=user.id)

    # API keys
    async def create_api_key(
        self, principal: Principal, name: str, expires_at: datetime | None
    ) -> tuple[ApiKeyRecord, str]:
        now = utc_now()
        if expires_at is not None and expires_at <= now:
            raise validation_problem(
                "`expires_at` must be in the future.",
                field_error(["body", "expires_at"], "Must be in the future.", "past"),
            )
        held = await self._api_keys.api_keys_of(principal.user_id, before=None, limit=_KEYS_CONSIDERED)  # unrevoked
        unexpired = [key for key in held if not _expired(key, now)]
        if len(unexpired) >= MAX_API_KEYS_PER_USER:
            raise ProblemError(
                409,
                f"You hold {MAX_API_KEYS_PER_USER} API keys, the most an account may; revoke one to create another.",
                slug="api-key-limit-reached",
                title="API Key Limit Reached",
            )
        key, prefix = new_api_key()
        record = ApiKeyRecord(
            id=str(uuid.uuid4()),
            user_id=principal.user_id,
            name=name,
            prefix=prefix,
            key_hash=digest(key),
            created_at=now,
            last_used_at=None,
            expires_at=expires_at,
        )
        await self._api_keys.add_api_key(record)
        await self._audit.record(
            "api_key.created", actor_id=principal.user_id, subject_id=principal.user_id, detail=prefix
        )
        return record, key

    async def api_keys(self, principal: Principal, *, before: str | None, limit: int) -> list[ApiKeyRecord]:
        return await self._api_keys.api_keys_of(principal.user_id, before=before, limit=limit)

    async def revoke_api_key(self, principal: Principal, key_id: str) -> None:
        if not await self._api_keys.revoke_api_key(principal.user_id, key_id):
            raise ProblemError(404, "No such API key.")
        await self._audit.record(
            "api_key.revoked", actor_id=principal.user_id, subject_id=principal.user_id, detail=key_id
        )

    # administration
    async def set_role(self, principal: Principal, user_id: str, role: Role) -> UserRecord:
        if user_id == principal.user_id:
            raise conflict("Admins cannot change their own role; ask another admin.")
        if not await self._users.set_role(user_id, role.label, actor_id=principal.user_id):
            if await self._users.user_by_id(user_id) is None:
                raise ProblemError(404, "No such user.")
            raise conflict("The change would leave no admin, or you are no longer an admin.")
        await self._audit.record(
            "role.changed", actor_id=principal.user_id, subject_id=user_id, detail=f"role={role.label}"
        )
        user = await self._users.user_by_id(user_id)
        assert user is not None
        return user

    async def audit_events(self, *, before: int | None, limit: int) -> list[AuditRecord]:
        return await self._audit.events(before=before, limit=limit)
