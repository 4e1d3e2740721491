"""OpenTelemetry traces: off unless `LEXICA_TRACING=true`, then exported over OTLP (HTTP).

The exporter reads OpenTelemetry's own variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`; default
http://localhost:4318), `OTEL_EXPORTER_OTLP_HEADERS`, and so on. What is traced:
- every HTTP request and WebSocket connection, as a server span named by the spec's path template — FastAPI's own
  telemetry layer, which honours an incoming W3C `traceparent`. With tracing on, the fast paths are off, so that no
  request goes unseen (the price of tracing: each request takes the whole stack);
- SQL statements (SQLAlchemy's instrumentation), MongoDB commands (`lexica.storage.mongo.command_spans`) and Redis
  commands (redis-py's), as child spans;
- jobs: the request that starts one records its trace context in the job (`JobRecord.trace_context`); the process
  that runs it — this one in the embedded mode, a `lexica worker` with Redis — opens the job's span in that trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.trace import Tracer

import lexica
from lexica.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

# The SDK, the exporter and the instrumentations are imported only when tracing is on: they cost a process without
# tracing about 10 MB and a tenth of a second of start-up for nothing.

JOBS_TRACER = "lexica.jobs"


def tracer_provider(settings: Settings, service: str) -> TracerProvider | None:
    """A provider exporting over OTLP when tracing is on (`service`: `lexica-api` or `lexica-worker`), else None."""
    if not settings.tracing:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": service, "service.version": lexica.__version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def instrument_redis(provider: TracerProvider) -> None:
    """Spans for every Redis command of this process (redis-py is patched once, for every client)."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    instrumentor = RedisInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


@contextmanager
def traced_sql(engine: AsyncEngine, provider: TracerProvider) -> Iterator[None]:
    """Spans for every statement of this engine while the context is open. (SQLAlchemy's instrumentor is one per
    process: it is undone on exit, so that a process that opens storage again — tests — traces the new engine.)"""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    # The instrumentation declares "sqlalchemy < 2.1" and would do nothing on the 2.1 this project runs; the
    # engine events it listens to are unchanged in 2.1, and tests/ops/test_tracing.py checks that spans come out.
    instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def jobs_tracer(provider: TracerProvider | None) -> Tracer:
    """The tracer job spans come from (a no-op one without tracing)."""
    return provider.get_tracer(JOBS_TRACER) if provider is not None else trace.NoOpTracer()


def current_trace_context() -> dict[str, str] | None:
    """The W3C trace context of the span in progress (`traceparent`, `tracestate`), or None outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None
