"""What an endpoint implementation returns: a typed body plus status and headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel
from sse_starlette import ServerSentEvent

BodyT = TypeVar("BodyT", bound=BaseModel | None)


@dataclass(frozen=True, slots=True)
class Serialised(Generic[BodyT]):
    """JSON bytes known to be the serialisation of a `BodyT`; lets hot paths reuse cached bytes."""

    data: bytes

    @classmethod
    def of(cls, model: BodyT) -> Serialised[BodyT]:
        if model is None:
            return cls(b"null")
        return cls(model.model_dump_json().encode())


@dataclass(frozen=True, slots=True)
class Streamed(Generic[BodyT]):
    """A body sent as it is produced: one `BodyT` per line (NDJSON), never held whole in memory."""

    items: AsyncIterator[BodyT | Serialised[BodyT]]


@dataclass(frozen=True, slots=True)
class EventStream:
    """A `text/event-stream` body: server-sent events as they happen, with `: ping` comments while idle."""

    events: AsyncIterator[ServerSentEvent]
    ping_seconds: float = 15.0


@dataclass(frozen=True, slots=True)
class Reply(Generic[BodyT]):
    body: BodyT | Serialised[BodyT] | Streamed[BodyT] | EventStream | None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> Reply[BodyT]:
        return cls(body=None, status=status, headers=headers or {})
