"""`/api/v1/ws`: the AsyncAPI `ws` channel. Clients subscribe to topics and receive their events as JSON messages.

Credentials as for HTTP (`Authorization: Bearer`, `X-API-Key`), or `?access_token=` for browsers, which cannot set
headers on a WebSocket. A bad frame (not JSON, not a client message, binary, too large, too deep) is answered with an
`error` message and the socket stays open. A job topic replays the job's kept history first (a late subscriber misses
nothing); list and entry topics deliver what happens from the subscription on. Access is checked when subscribing and
before every delivery; credentials are checked again while the socket is open (see `connection` and `access`).

The handshake spends one request of the caller's HTTP rate limit (RateLimitMiddleware), and a user holds at most
`LEXICA_WEBSOCKET_MAX_CONNECTIONS_PER_USER` sockets: one more is accepted and closed with 4429, a code browsers can
see (a refused handshake only shows them a failure).
"""

from __future__ import annotations

from starlette.websockets import WebSocket

from lexica.platform.running import require_running
from lexica.realtime.access import Credentials
from lexica.realtime.connection import Connection
from lexica.realtime.protocol import GOING_AWAY, POLICY_VIOLATION, TOO_MANY
from lexica.state import AppState


async def websocket_endpoint(websocket: WebSocket) -> None:
    credentials = await Credentials.of(websocket)
    if credentials is None:
        # Refused before the upgrade: the server answers the handshake with 403.
        await websocket.close(code=POLICY_VIOLATION, reason="credentials required")
        return
    state: AppState = require_running(websocket.scope.get("state")).app
    hub = state.websockets
    if state.lifecycle.draining:
        await websocket.accept()
        await websocket.close(code=GOING_AWAY, reason="server shutting down")
        return
    slot = await hub.slots.acquire(credentials.principal.user_id)
    if slot is None:
        await websocket.accept()
        limit = hub.slots.limit
        await websocket.close(code=TOO_MANY, reason=f"at most {limit} sockets per user")
        return
    hub.open_sockets += 1
    try:
        await websocket.accept()
        await Connection(websocket, state, hub, credentials, slot).serve()
    finally:
        hub.open_sockets -= 1
        await hub.slots.release(slot)
