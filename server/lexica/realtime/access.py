"""Who is on a socket, and whether they still may be: the handshake's credentials, checked again while it is open.

The handshake's headers (or `?access_token=`) are kept and given to the same authenticator as every HTTP request, so
a revoked API key, a signed-out session (revoked refresh-token family), a deleted account or an expired token fails
exactly as it would over HTTP. An access token's `exp` is read once (after the authenticator verified the token) so
that the socket can be closed at that moment rather than at the next check.
"""

from __future__ import annotations

import asyncio
import logging
import time

import jwt
from starlette.requests import Request
from starlette.websockets import WebSocket

from lexica.auth.tokens import api_key_prefix
from lexica.jobs.service import JobService
from lexica.lists.service import ListService
from lexica.platform.events import Event
from lexica.platform.problems import ProblemError
from lexica.platform.running import require_running
from lexica.platform.security import Authenticator, Principal

logger = logging.getLogger("lexica.ws")


def handshake_request(websocket: WebSocket) -> Request:
    """A request view of the handshake, with `?access_token=` moved into an Authorization header."""
    scope = {**websocket.scope, "type": "http", "method": "GET"}  # the authenticator reads a request's headers
    token = websocket.query_params.get("access_token")
    if token and not websocket.headers.get("authorization"):
        scope["headers"] = [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]
    return Request(scope)


def _access_token_expiry(request: Request) -> float | None:
    """The `exp` (Unix time) of the request's access token; None for API keys (checked against storage instead)."""
    if request.headers.get("x-api-key") is not None:
        return None
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or api_key_prefix(credentials) is not None:
        return None
    try:  # already verified by the authenticator; only the expiry is read here
        claims = jwt.decode(credentials, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


class Credentials:
    """The socket's principal, kept current by authenticating the handshake's credentials again."""

    def __init__(self, authenticator: Authenticator, request: Request, principal: Principal) -> None:
        self._authenticator = authenticator
        self._request = request
        self.principal = principal
        self.expires_at = _access_token_expiry(request)
        self.checked_at = time.monotonic()
        self._checking = asyncio.Lock()

    @classmethod
    async def of(cls, websocket: WebSocket) -> Credentials | None:
        """The handshake's credentials when they identify someone; None without or with bad ones."""
        authenticator = require_running(websocket.scope.get("state")).authenticator
        request = handshake_request(websocket)
        try:
            principal = await authenticator.authenticate(request)
        except ProblemError:
            return None
        return None if principal is None else cls(authenticator, request, principal)

    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def seconds_to_expiry(self) -> float:
        return float("inf") if self.expires_at is None else max(0.0, self.expires_at - time.time())

    async def valid(self, max_age: float) -> bool:
        """False once the credentials no longer hold; checked against storage when the last check is older than
        `max_age` seconds. A check that cannot be made (storage unreachable) keeps the socket open and is retried."""
        if self.expired():
            return False
        async with self._checking:  # one check at a time: followers delivering together share its outcome
            if time.monotonic() - self.checked_at < max_age:
                return True
            started = time.monotonic()
            try:
                principal = await self._authenticator.authenticate(self._request)
            except ProblemError:
                return False
            except Exception:  # storage unreachable: not a verdict on the credentials; try again at the next check
                logger.warning("cannot re-check WebSocket credentials now", exc_info=True)
                return True
            if principal is None or principal.user_id != self.principal.user_id:
                return False
            self.principal = principal
            self.checked_at = started
            return True


class TopicAccess:
    """Whether a principal may follow a topic (on subscribing) and receive one of its events (on each delivery)."""

    def __init__(self, jobs: JobService, lists: ListService) -> None:
        self._jobs = jobs
        self._lists = lists

    async def may_follow(self, topic: str, principal: Principal) -> bool:
        kind, _, ident = topic.partition(":")
        if kind == "job":
            job = await self._jobs.job_record(ident)
            return job is not None and job.owner_id == principal.user_id
        if kind == "list":
            try:
                await self._lists.readable(ident, principal)
            except ProblemError:
                return False
        return True

    async def may_receive(self, event: Event, principal: Principal) -> bool:
        """Checked before every delivery. A list's `deleted` change is delivered to whoever still followed it (access
        was checked at its previous event); the list is gone, so there is nothing left to check it against."""
        if event.topic.startswith("list:") and event.payload.get("change") == "deleted":
            return True
        return await self.may_follow(event.topic, principal)
