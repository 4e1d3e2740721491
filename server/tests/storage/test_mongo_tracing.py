"""With tracing on, every MongoDB command is a client span, a child of the span current when it ran (a request's, a
job's), recorded here with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from lexica.settings import Settings
from lexica.storage.backends import open_storage


async def test_mongodb_commands_are_child_spans_of_the_current_span(mongo_database_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(database_url=mongo_database_url, environment="test")
    try:
        async with open_storage(settings, provider) as storage:
            with provider.get_tracer("test").start_as_current_span("request") as request:
                assert await storage.words.get("nowhere") is None
                assert await storage.words.count() == 0
    finally:
        provider.shutdown()

    commands = [span for span in exporter.get_finished_spans() if span.name.startswith("mongodb ")]
    request_id = request.get_span_context().span_id
    in_request = [span for span in commands if span.parent is not None and span.parent.span_id == request_id]
    # the lookup (find) and the count (aggregate); the index checks at start-up ran before, outside the request
    assert [span.name for span in in_request] == ["mongodb find", "mongodb aggregate"]
    for span in in_request:
        assert span.kind is SpanKind.CLIENT
        assert span.attributes is not None
        assert span.attributes["db.system"] == "mongodb"
        assert span.attributes["db.collection.name"] == "entries"
        assert span.end_time is not None
    assert any(span.name == "mongodb createIndexes" for span in commands)
