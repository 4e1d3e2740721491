"""Who a request counts against for rate limiting: the verified user or API key, else the address."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Scope

from lexica.platform.rate_limit import ClientIdentity, default_identify


async def identify(scope: Scope) -> ClientIdentity:
    fallback = await default_identify(scope)
    if fallback.kind == "login":
        return fallback
    state = scope.get("state", {}).get("lexica")
    if state is None:
        return fallback
    headers = Headers(scope=scope)
    key = await state.auth.client_key(headers.get("authorization"), headers.get("x-api-key"))
    return ClientIdentity("authenticated", key) if key is not None else fallback
