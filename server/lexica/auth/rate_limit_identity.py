"""Who a request counts against for rate limiting: the verified user or API key, else the address."""

from __future__ import annotations

from starlette.datastructures import Headers, QueryParams
from starlette.types import Scope

from lexica.auth.authenticator import RequestAuthenticator
from lexica.platform.rate_limit import ClientIdentity, address_identity
from lexica.platform.running import running_of


async def identify(scope: Scope) -> ClientIdentity:
    """The account behind a bearer token or an API key; without credentials (`Authorization`, `X-API-Key`, a
    WebSocket's `access_token`), `address_identity`."""
    fallback = address_identity(scope)
    if fallback.kind == "login":
        return fallback
    running = running_of(scope.get("state"))
    if running is None:
        return fallback
    authenticator: RequestAuthenticator = running.app.auth.authenticator
    headers = Headers(scope=scope)
    authorization = headers.get("authorization")
    if authorization is None and scope["type"] == "websocket":  # browsers send their token in the query
        token = QueryParams(scope.get("query_string", b"")).get("access_token")
        authorization = f"Bearer {token}" if token else None
    key = await authenticator.client_key(authorization, headers.get("x-api-key"))
    return ClientIdentity("authenticated", key) if key is not None else fallback
