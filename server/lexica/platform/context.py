"""Per-request facts that services need without depending on the HTTP layer (set by middleware)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    client_ip: str | None


_current: ContextVar[RequestContext | None] = ContextVar("lexica_request_context", default=None)


def set_request_context(context: RequestContext) -> None:
    _current.set(context)


def current_client_ip() -> str | None:
    context = _current.get()
    return context.client_ip if context else None


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None
