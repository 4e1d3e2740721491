"""Who a request is: its access token or API key verified against storage, and the cheap identity rate limits use."""

from __future__ import annotations

from datetime import timedelta

from cachetools import TTLCache
from fastapi import Request

from lexica.auth.repository import ApiKeyRepository, TokenRepository, UserRepository
from lexica.auth.tokens import AccessTokens, InvalidToken, api_key_prefix, digest, same_digest
from lexica.platform.clock import utc_now
from lexica.platform.problems import ProblemError
from lexica.platform.security import Principal, Role, unauthorized

API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


class RequestAuthenticator:
    """The app's `Authenticator` (every secured operation and WebSocket) and the rate limiter's `client_key`."""

    def __init__(
        self, users: UserRepository, tokens: TokenRepository, api_keys: ApiKeyRepository, *, access: AccessTokens
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._api_keys = api_keys
        self._access = access
        # Verified API keys, for rate limiting only (authorization always checks storage).
        self._verified_keys: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=60)

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
        user = await self._users.user_by_id(claims.user_id)
        if user is None or await self._tokens.family_revoked(claims.family_id):
            raise unauthorized("The access token has been revoked.")
        return Principal(user_id=user.id, role=Role.parse(user.role), via="token")

    async def _by_api_key(self, key: str) -> Principal:
        prefix = api_key_prefix(key.strip())
        record = await self._api_keys.api_key_by_prefix(prefix) if prefix else None
        if record is None or not same_digest(record.key_hash, digest(key.strip())):
            raise unauthorized("The API key is invalid or revoked.")
        now = utc_now()
        if record.expires_at is not None and record.expires_at <= now:
            raise unauthorized("The API key has expired.")
        user = await self._users.user_by_id(record.user_id)
        if user is None:
            raise unauthorized("The API key is invalid or revoked.")
        if record.last_used_at is None or now - record.last_used_at > API_KEY_TOUCH_INTERVAL:
            await self._api_keys.touch_api_key(record.id, now)
        return Principal(user_id=user.id, role=Role.parse(user.role), via="api_key", api_key_id=record.id)
