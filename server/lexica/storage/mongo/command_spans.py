"""A span for every MongoDB command, when tracing is on (`lexica.platform.tracing`).

OpenTelemetry's PyMongo instrumentation does this with the same PyMongo command monitoring, but it is released in
lockstep with the other instrumentations and has no release matching the ones this project pins (0.66b2); these
few lines use the documented monitoring API (`pymongo.monitoring.CommandListener`) directly, on this client only.
A command's `started` event is published in the task that runs it, so its span is a child of the span current
there (the request's, or the job's).
"""

from __future__ import annotations

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from pymongo import monitoring

import lexica

_Key = tuple[int, object]  # a command's request id and its connection


class CommandSpans(monitoring.CommandListener):
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._open: dict[_Key, Span] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        host, port = event.connection_id
        collection = event.command.get(event.command_name)
        attributes: dict[str, str | int] = {
            "db.system": "mongodb",
            "db.name": event.database_name,
            "db.operation.name": event.command_name,
            "server.address": str(host),
            "server.port": int(port or 27017),
        }
        if isinstance(collection, str):
            attributes["db.collection.name"] = collection
        span = self._tracer.start_span(f"mongodb {event.command_name}", kind=SpanKind.CLIENT, attributes=attributes)
        self._open[(event.request_id, event.connection_id)] = span

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        span = self._open.pop((event.request_id, event.connection_id), None)
        if span is not None:
            span.end()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        span = self._open.pop((event.request_id, event.connection_id), None)
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, str(event.failure.get("errmsg", ""))[:200]))
            span.end()


def command_spans(provider: TracerProvider) -> CommandSpans:
    """The listener for a client, its spans from `provider`."""
    return CommandSpans(provider.get_tracer("lexica.mongodb", lexica.__version__))
