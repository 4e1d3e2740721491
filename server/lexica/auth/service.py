"""Sign-up, sign-in, token rotation, sign-out and request authentication."""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from cachetools import TTLCache
from fastapi import Request

from lexica.auth import passwords, totp
from lexica.auth.emails import check_new_email, normalise_email
from lexica.auth.repository import AuthRepository, UserRecord
from lexica.auth.throttle import LoginThrottle
from lexica.auth.tokens import (
    AccessTokens,
    InvalidToken,
    api_key_prefix,
    derive_key,
    digest,
    new_refresh_token,
    same_digest,
)
from lexica.platform.clock import utc_now
from lexica.platform.context import current_client_ip
from lexica.platform.problems import ProblemError
from lexica.platform.security import Principal, Role, unauthorized

logger = logging.getLogger("lexica.auth")
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


def invalid_grant(detail: str, *, error: str = "invalid_grant", **extra: object) -> ProblemError:
    title = error.replace("_", " ").title()
    return ProblemError(400, detail, slug=error.replace("_", "-"), title=title, extra={"error": error, **extra})


class AuthService:
    def __init__(
        self,
        repository: AuthRepository,
        throttle: LoginThrottle,
        *,
        secret: str,
        access_ttl: timedelta,
        refresh_ttl: timedelta,
    ) -> None:
        self._repo = repository
        self._throttle = throttle
        self.throttled_logins = 0  # sign-ins refused by the throttle since start-up (the metrics)
        self._access = AccessTokens(secret, access_ttl)
        self._refresh_ttl = refresh_ttl
        self._box = totp.SecretBox(secret)
        self._recovery_key = derive_key(secret, "recovery-codes")
        # Verified API keys, for rate limiting only (authorization always checks storage).
        self._verified_keys: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=60)

    @property
    def box(self) -> totp.SecretBox:
        return self._box

    def recovery_hash(self, code: str) -> str:
        return hmac.new(self._recovery_key, code.strip().lower().encode(), "sha256").hexdigest()

    async def audit(
        self,
        action: str,
        *,
        actor_id: str | None = None,
        subject_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self._repo.record(
            action,
            actor_id=actor_id,
            subject_id=subject_id,
            client_ip=current_client_ip(),
            detail=detail,
            now=utc_now(),
        )

    # accounts
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
        if not await self._repo.create_user(user):
            raise ProblemError(409, "An account with this email already exists.", slug="email-taken", title="Conflict")
        await self.audit("user.registered", actor_id=user.id, subject_id=user.id, detail=f"role={role.label}")
        return user

    async def bootstrap_admin(self, email: str, password: str) -> bool:
        """Create the first admin from settings when no admin exists; True if one was created."""
        if await self._repo.any_admin():
            return False
        existing = await self._repo.user_by_email(normalise_email(email))
        if existing is not None:
            # Emails are not verified: promote an existing account only if it proves to be the configured one.
            if not await asyncio.to_thread(passwords.verify_password, existing.password_hash, password):
                logger.error("first admin not created: %s is registered with another password", existing.id)
                return False
            await self._repo.set_role(existing.id, Role.ADMIN.label)
            await self.audit("admin.bootstrapped", subject_id=existing.id, detail="promoted existing account")
            return True
        try:
            user = await self.register(email, password, None, Role.ADMIN)
        except ProblemError as error:
            if error.status == 422:
                raise RuntimeError(f"LEXICA_FIRST_ADMIN_PASSWORD is not acceptable: {error.detail}") from None
            if error.status != 409:
                raise
            # Another instance starting at the same time created the account first; make sure it is an admin.
            raced = await self._repo.user_by_email(normalise_email(email))
            if raced is not None and raced.role != Role.ADMIN.label:
                await self._repo.set_role(raced.id, Role.ADMIN.label)
            return False
        await self.audit("admin.bootstrapped", subject_id=user.id, detail="created from settings")
        return True

    # tokens
    async def _issue(self, user_id: str, family_id: str) -> IssuedTokens:
        refresh = new_refresh_token()
        await self._repo.add_refresh_token(digest(refresh), family_id, user_id, utc_now() + self._refresh_ttl)
        return IssuedTokens(
            access_token=self._access.issue(user_id, family_id),
            refresh_token=refresh,
            expires_in=int(self._access.ttl.total_seconds()),
        )

    async def _second_factor_ok(self, user: UserRecord, otp: str | None) -> bool:
        if not otp:
            return False
        assert user.totp_secret is not None
        step = totp.matching_step(self._box.open(user.totp_secret), otp.strip())
        if step is not None:
            # One conditional write: a code seen before (same or older step) is refused, also under races.
            return await self._repo.advance_totp_step(user.id, step)
        if await self._repo.use_recovery_code(user.id, self.recovery_hash(otp)):
            await self.audit("mfa.recovery_code_used", actor_id=user.id, subject_id=user.id)
            return True
        return False

    async def login(self, username: str | None, password: str | None, otp: str | None) -> IssuedTokens:
        if not username or not password:
            raise invalid_grant("The password grant needs `username` and `password`.", error="invalid_request")
        email = normalise_email(username)
        ip = current_client_ip()
        # Counted before the password is checked (one atomic reservation): concurrent guesses cannot all be
        # evaluated before the first failure is recorded. A failure keeps the reservation; success clears it.
        wait = await self._throttle.reserve(email, ip)
        if wait:
            throttled = await self._repo.user_by_email(email)
            # Only the opaque id is recorded, never the email: deleting the account leaves nothing personal.
            await self.audit("login.throttled", subject_id=throttled.id if throttled else None)
            self.throttled_logins += 1
            raise ProblemError(
                429,
                f"Too many failed sign-ins; try again in {wait} second{'s' if wait != 1 else ''}.",
                slug="login-throttled",
                title="Too Many Requests",
                headers={"Retry-After": str(wait)},
            )
        user = await self._repo.user_by_email(email)
        stored_hash = user.password_hash if user else passwords.DUMMY_HASH
        valid = await asyncio.to_thread(passwords.verify_password, stored_hash, password)
        if user is None or not valid:
            await self.audit("login.failed", subject_id=user.id if user else None, detail="bad credentials")
            raise invalid_grant("The email or password is wrong.")
        if user.totp_confirmed and not await self._second_factor_ok(user, otp):
            await self.audit("login.failed", subject_id=user.id, detail="missing or wrong one-time code")
            raise invalid_grant("A valid one-time code (`otp`) is required for this account.", mfa_required=True)
        await self._throttle.succeeded(email, ip)
        if passwords.needs_rehash(user.password_hash):
            await self._repo.set_password_hash(user.id, await asyncio.to_thread(passwords.hash_password, password))
        await self.audit("login.succeeded", actor_id=user.id, subject_id=user.id)
        return await self._issue(user.id, str(uuid.uuid4()))

    async def refresh(self, refresh_token: str | None) -> IssuedTokens:
        if not refresh_token:
            raise invalid_grant("The refresh_token grant needs `refresh_token`.", error="invalid_request")
        token_hash = digest(refresh_token)
        now = utc_now()
        family = await self._repo.consume_refresh_token(token_hash, now)
        if family is None:
            record = await self._repo.refresh_token(token_hash, now)
            if record is not None and record.used and not record.revoked:
                # A used token presented again: someone holds a copy. Revoke the whole family (RFC 9700 4.14.2).
                await self._repo.revoke_family(record.family_id)
                await self.audit("token.reuse_detected", subject_id=record.user_id, detail=f"family={record.family_id}")
                logger.warning("refresh token reuse detected; family %s revoked", record.family_id)
            raise invalid_grant("The refresh token is invalid, expired, used or revoked; sign in again.")
        record = await self._repo.refresh_token(token_hash, now)
        assert record is not None
        if await self._repo.user_by_id(record.user_id) is None:
            raise invalid_grant("The account no longer exists.")
        return await self._issue(record.user_id, family)

    async def logout(self, refresh_token: str) -> None:
        record = await self._repo.refresh_token(digest(refresh_token), utc_now())
        if record is not None and not record.revoked:
            await self._repo.revoke_family(record.family_id)
            await self.audit("logout", actor_id=record.user_id, subject_id=record.user_id)

    # rate-limit identity (cheap: no database access for tokens, a short cache for API keys)
    async def client_key(self, authorization: str | None, api_key: str | None) -> str | None:
        """`user:<id>` for a token or API key that verifies, None otherwise (then the address counts)."""
        if api_key is None and authorization is not None:
            scheme, _, credentials = authorization.partition(" ")
            credentials = credentials.strip()
            if scheme.lower() != "bearer" or not credentials:
                return None
            if api_key_prefix(credentials) is None:
                try:
                    return f"user:{self._access.verify(credentials).user_id}"
                except InvalidToken:
                    return None
            api_key = credentials
        if api_key is None:
            return None
        key_digest = digest(api_key.strip())
        if (known := self._verified_keys.get(key_digest)) is not None:
            return known
        try:
            principal = await self._by_api_key(api_key)
        except ProblemError:
            return None
        identity = f"user:{principal.user_id}"  # all of a user's keys share the user's quota
        self._verified_keys[key_digest] = identity
        return identity

    # request authentication
    async def authenticate(self, request: Request) -> Principal | None:
        api_key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization")
        if api_key is not None:
            return await self._by_api_key(api_key)
        if authorization is None:
            return None
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise unauthorized("Use `Authorization: Bearer <token or API key>`.")
        if api_key_prefix(credentials) is not None:
            return await self._by_api_key(credentials)
        return await self._by_access_token(credentials)

    async def _by_access_token(self, token: str) -> Principal:
        try:
            claims = self._access.verify(token)
        except InvalidToken as exc:
            raise unauthorized("The access token is invalid or expired.") from exc
        user = await self._repo.user_by_id(claims.user_id)
        if user is None or await self._repo.family_revoked(claims.family_id):
            raise unauthorized("The access token has been revoked.")
        return Principal(user_id=user.id, role=Role.parse(user.role), via="token")

    async def _by_api_key(self, key: str) -> Principal:
        prefix = api_key_prefix(key.strip())
        record = await self._repo.api_key_by_prefix(prefix) if prefix else None
        if record is None or not same_digest(record.key_hash, digest(key.strip())):
            raise unauthorized("The API key is invalid or revoked.")
        now = utc_now()
        if record.expires_at is not None and record.expires_at <= now:
            raise unauthorized("The API key has expired.")
        user = await self._repo.user_by_id(record.user_id)
        if user is None:
            raise unauthorized("The API key is invalid or revoked.")
        if record.last_used_at is None or now - record.last_used_at > API_KEY_TOUCH_INTERVAL:
            await self._repo.touch_api_key(record.id, now)
        return Principal(user_id=user.id, role=Role.parse(user.role), via="api_key", api_key_id=record.id)
