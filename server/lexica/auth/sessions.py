"""Sign-in (password and second factor, throttled), refresh-token rotation and sign-out."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from lexica.auth import passwords
from lexica.auth.audit_log import AuditLog
from lexica.auth.emails import normalise_email
from lexica.auth.repository import TokenRepository, UserRepository
from lexica.auth.second_factor import SecondFactor
from lexica.auth.throttle import LoginThrottle
from lexica.auth.tokens import AccessTokens, digest, new_refresh_token
from lexica.platform.clock import utc_now
from lexica.platform.context import current_client_ip
from lexica.platform.problems import ProblemError

logger = logging.getLogger("lexica.auth")


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


def invalid_grant(detail: str, *, error: str = "invalid_grant", **extra: object) -> ProblemError:
    title = error.replace("_", " ").title()
    return ProblemError(400, detail, slug=error.replace("_", "-"), title=title, extra={"error": error, **extra})


class Sessions:
    def __init__(
        self,
        users: UserRepository,
        tokens: TokenRepository,
        audit: AuditLog,
        second_factor: SecondFactor,
        throttle: LoginThrottle,
        *,
        access: AccessTokens,
        refresh_ttl: timedelta,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._audit = audit
        self._second_factor = second_factor
        self._throttle = throttle
        self.throttled_logins = 0  # sign-ins refused by the throttle since start-up (the metrics)
        self._access = access
        self._refresh_ttl = refresh_ttl

    async def _issue(self, user_id: str, family_id: str) -> IssuedTokens:
        refresh = new_refresh_token()
        await self._tokens.add_refresh_token(digest(refresh), family_id, user_id, utc_now() + self._refresh_ttl)
        return IssuedTokens(
            access_token=self._access.issue(user_id, family_id),
            refresh_token=refresh,
            expires_in=int(self._access.ttl.total_seconds()),
        )

    async def login(self, username: str | None, password: str | None, otp: str | None) -> IssuedTokens:
        if not username or not password:
            raise invalid_grant("The password grant needs `username` and `password`.", error="invalid_request")
        email = normalise_email(username)
        ip = current_client_ip()
        # Counted before the password is checked (one atomic reservation): concurrent guesses cannot all be
        # evaluated before the first failure is recorded. A failure keeps the reservation; success clears it.
        wait = await self._throttle.reserve(email, ip)
        if wait:
            throttled = await self._users.user_by_email(email)
            # Only the opaque id is recorded, never the email: deleting the account leaves nothing personal.
            await self._audit.record("login.throttled", subject_id=throttled.id if throttled else None)
            self.throttled_logins += 1
            raise ProblemError(
                429,
                f"Too many failed sign-ins; try again in {wait} second{'s' if wait != 1 else ''}.",
                slug="login-throttled",
                title="Too Many Requests",
                headers={"Retry-After": str(wait)},
            )
        user = await self._users.user_by_email(email)
        stored_hash = user.password_hash if user else passwords.DUMMY_HASH
        valid = await asyncio.to_thread(passwords.verify_password, stored_hash, password)
        if user is None or not valid:
            await self._audit.record("login.failed", subject_id=user.id if user else None, detail="bad credentials")
            raise invalid_grant("The email or password is wrong.")
        if user.totp_confirmed and not await self._second_factor.accepts(user, otp):
            await self._audit.record("login.failed", subject_id=user.id, detail="missing or wrong one-time code")
            raise invalid_grant("A valid one-time code (`otp`) is required for this account.", mfa_required=True)
        await self._throttle.succeeded(email, ip)
        if passwords.needs_rehash(user.password_hash):
            await self._users.set_password_hash(user.id, await asyncio.to_thread(passwords.hash_password, password))
        await self._audit.record("login.succeeded", actor_id=user.id, subject_id=user.id)
        return await self._issue(user.id, str(uuid.uuid4()))

    async def refresh(self, refresh_token: str | None) -> IssuedTokens:
        if not refresh_token:
            raise invalid_grant("The refresh_token grant needs `refresh_token`.", error="invalid_request")
        token_hash = digest(refresh_token)
        now = utc_now()
        family = await self._tokens.consume_refresh_token(token_hash, now)
        if family is None:
            record = await self._tokens.refresh_token(token_hash, now)
            if record is not None and record.used and not record.revoked:
                # A used token presented again: someone holds a copy. Revoke the whole family (RFC 9700 4.14.2).
                await self._tokens.revoke_family(record.family_id)
                await self._audit.record(
                    "token.reuse_detected", subject_id=record.user_id, detail=f"family={record.family_id}"
                )
                logger.warning("refresh token reuse detected; family %s revoked", record.family_id)
            raise invalid_grant("The refresh token is invalid, expired, used or revoked; sign in again.")
        record = await self._tokens.refresh_token(token_hash, now)
        assert record is not None
        if await self._users.user_by_id(record.user_id) is None:
            raise invalid_grant("The account no longer exists.")
        return await self._issue(record.user_id, family)

    async def logout(self, refresh_token: str) -> None:
        record = await self._tokens.refresh_token(digest(refresh_token), utc_now())
        if record is not None and not record.revoked:
            await self._tokens.revoke_family(record.family_id)
            await self._audit.record("logout", actor_id=record.user_id, subject_id=record.user_id)
