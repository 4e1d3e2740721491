"""Access tokens (JWT, HS256, short-lived) and opaque refresh tokens and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "lexica"
AUDIENCE = "lexica-api"
ALGORITHM = "HS256"
API_KEY_PREFIX = "lx_"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    family_id: str


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not an access token."""


def derive_key(secret: str, purpose: str) -> bytes:
    """A separate key per purpose from the one configured secret (HMAC-SHA256 as a KDF)."""
    return hmac.new(secret.encode(), f"lexica:{purpose}".encode(), hashlib.sha256).digest()


class AccessTokens:
    def __init__(self, secret: str, ttl: timedelta) -> None:
        self._key = derive_key(secret, "jwt")
        self.ttl = ttl

    def issue(self, user_id: str, family_id: str, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "fam": family_id,
            "typ": "access",
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        try:
            # `algorithms` is pinned: `alg: none` and RS/HS confusion are refused by PyJWT before any check.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if claims.get("typ") != "access" or not isinstance(claims.get("fam"), str):
            raise InvalidToken("not an access token")
        return AccessClaims(user_id=str(claims["sub"]), family_id=claims["fam"])


def new_refresh_token() -> str:
    return f"lxr_{secrets.token_urlsafe(32)}"


def new_api_key() -> tuple[str, str]:
    """(whole key, public prefix). The prefix is stored in clear to find the key; the rest only hashed."""
    prefix = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", f"{API_KEY_PREFIX}{prefix}"


def api_key_prefix(key: str) -> str | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    head, sep, _ = key[len(API_KEY_PREFIX) :].partition("_")
    return f"{API_KEY_PREFIX}{head}" if sep and len(head) == 8 else None


def digest(token: str) -> str:
    """SHA-256 of a high-entropy token: enough for random secrets, unlike passwords."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
