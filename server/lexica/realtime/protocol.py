"""The `ws` channel's wire rules (asyncapi/lexica.yaml): close codes, and reading one client frame safely.

A frame is checked before it is parsed: a binary frame, a message over the size limit and one nested deeper than the
depth limit each get their declared `error`, and none of them can raise. JSON is parsed by orjson, which refuses
nesting deeper than 1,024 levels itself (no recursion to blow up); the depth limit is then checked without
recursion. A reply echoes the message's `id` only when it is a string within the declared 64 characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from lexica._generated.events import ClientMessage, Ping, Subscribe, Unsubscribe

# Close codes (the channel's description declares each one).
GOING_AWAY = 1001  # the instance is draining
POLICY_VIOLATION = 1008  # handshake refused (sent as HTTP 403 before the upgrade)
INTERNAL_ERROR = 1011
CREDENTIALS_ENDED = 4401  # expired, revoked or deleted: re-authenticate
TOO_SLOW = 4408  # the client does not read its messages
TOO_MANY = 4429  # sockets per user, or a client that keeps flooding

MAX_CORRELATION_ID = 64  # CorrelationId's maxLength
MAX_DETAIL = 500  # ErrorMessage.detail's maxLength
_MAX_PART = 40

Message = Subscribe | Unsubscribe | Ping


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame refused with an `error` message; the socket stays open."""

    code: str
    detail: str
    correlation: str | None = None


@dataclass(frozen=True, slots=True)
class FrameLimits:
    max_bytes: int
    max_depth: int


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_frame(frame: Mapping[str, Any], limits: FrameLimits) -> Message | FrameError:
    """The client message in an ASGI `websocket.receive` event, or why it is refused."""
    text = frame.get("text")
    if text is None:
        return FrameError("binary_frame", "Only text frames are read; send each message as JSON text.")
    if len(text) > limits.max_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        return FrameError("message_too_large", f"A message may have at most {limits.max_bytes} bytes.")
    too_deep = FrameError("message_too_deep", f"A message may nest objects and arrays {limits.max_depth} levels deep.")
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            return too_deep
        return FrameError("invalid_json", "The message is not JSON.")
    if _depth_exceeds(raw, limits.max_depth):
        return too_deep
    correlation = _correlation(raw)
    try:
        return ClientMessage.model_validate(raw).root
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors(include_input=False)[:5])
        return FrameError(
            "invalid_message", clip(f"Not a subscribe, unsubscribe or ping message ({problems})."), correlation
        )


def _correlation(raw: Any) -> str | None:
    """The message's `id` when it may be echoed: a string of at most 64 characters."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    return value if isinstance(value, str) and len(value) <= MAX_CORRELATION_ID else None


def _describe(error: Any) -> str:
    where = ".".join(clip(str(part), _MAX_PART) for part in error["loc"]) or "message"
    return f"{where}: {clip(str(error['msg']), 120)}"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when objects and arrays nest deeper than `limit` (`{}` is one level); no recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False
