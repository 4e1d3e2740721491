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


UNMATCHED_ROUTE = "unmatched"


@dataclass(slots=True)
class RequestNote:
    """What becomes known about a request while it is answered, for the layer outside the router that logs and
    counts it: the route that took it (routing does not tell the outer layers) and who the caller is."""

    route: str = UNMATCHED_ROUTE
    user_id: str | None = None  # an opaque id: never an email, a token or a password


_note: ContextVar[RequestNote | None] = ContextVar("lexica_request_note", default=None)


def begin_request_note() -> RequestNote:
    """A fresh note for the request starting in this task (where its route will run)."""
    note = RequestNote()
    _note.set(note)
    return note


def current_note() -> RequestNote | None:
    return _note.get()


def note_user(user_id: str) -> None:
    """The request being answered is this user's."""
    if (note := _note.get()) is not None:
        note.user_id = user_id


def current_user_id() -> str | None:
    note = _note.get()
    return note.user_id if note else None
