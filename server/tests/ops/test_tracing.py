"""Traces (`LEXICA_TRACING=true`), recorded with the OpenTelemetry SDK's in-memory exporter: a request with a W3C
`traceparent` continues the caller's trace, its SQL statements are child spans, and a job it starts runs in a span
of the same trace (exported by the job's worker process over OTLP, to a receiver here). Without tracing, nothing is
recorded."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from lexica.app import create_app
from lexica.platform.json_logs import JsonFormatter, RequestFields
from lexica.settings import Settings
from tests.conftest import make_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
ADMIN = ("trace-admin@lexica.test", "Quiet-Lantern-47-Orchard")


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def _client(settings: Settings, provider: TracerProvider) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, tracer_provider=provider)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lexica.test") as client:
            yield client


def _in_trace(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    return [span for span in spans if span.context is not None and f"{span.context.trace_id:032x}" == TRACE_ID]


async def test_a_request_continues_the_callers_trace_and_its_sql_is_in_it(
    letter_a_database: str, recorded: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = recorded
    async for client in _client(make_settings(letter_a_database, tracing=True), provider):
        exporter.clear()
        response = await client.get("/api/v1/words/abacus", headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200
        # The fast paths are off while tracing: the second lookup, a cache hit, has its span too.
        assert (await client.get("/api/v1/words/abacus", headers={"traceparent": TRACEPARENT})).status_code == 200

    spans = _in_trace(exporter.get_finished_spans())
    servers = [span for span in spans if span.kind is SpanKind.SERVER]
    assert len(servers) == 2
    for server in servers:
        assert server.parent is not None
        assert f"{server.parent.span_id:016x}" == CALLER_SPAN
        assert server.attributes is not None
        assert server.attributes["http.route"] == "/api/v1/words/{headword}"
        assert server.name == "GET /api/v1/words/{headword}"
    first = min(servers, key=lambda span: span.start_time or 0)
    statements = [span for span in spans if span.attributes and span.attributes.get("db.system") == "sqlite"]
    assert statements, "the cache miss read the entry: a SQL span was expected"
    assert {span.parent.span_id for span in statements if span.parent} == {first.context.span_id}


class OtlpReceiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP trace receiver on a free loopback port: what a collector would get from a process."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OtlpHandler)
        self.spans: list[Span] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:  # the name http.server calls
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.server.spans.extend(scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet: the base class writes to stderr
        return


@pytest.fixture
def otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """A receiver that the job worker processes export to (they inherit the environment)."""
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


async def test_a_job_runs_in_the_trace_of_the_request_that_started_it(
    tmp_path: Path, recorded: tuple[TracerProvider, InMemorySpanExporter], otlp_receiver: OtlpReceiver
) -> None:
    # The request's spans are recorded in this process; the job runs in a worker process of its own, which exports
    # its spans over OTLP, as it would to a collector.
    provider, exporter = recorded
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'jobs.sqlite3'}",
        tracing=True,
        first_admin_email=ADMIN[0],
        first_admin_password=SecretStr(ADMIN[1]),
        job_files_dir=tmp_path / "jobs",
        search_index_on_startup=False,
    )
    part = {
        "part_of_speech": "n.",
        "etymology": None,
        "definitions": [{"text": "ornamental stone openwork", "examples": []}],
        "compounds": None,
        "synonyms": None,
    }
    line = {"headword": "tracery", "parts_of_speech": [part]}
    async for client in _client(settings, provider):
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "traceparent": TRACEPARENT}
        started = await client.post(
            "/api/v1/imports",
            content=json.dumps(line).encode() + b"\n",
            headers={**headers, "Content-Type": "application/x-ndjson"},
        )
        assert started.status_code == 202, started.text
        async with asyncio.timeout(60):  # polled, as a client without SSE does
            while True:
                state = (await client.get(started.headers["location"], headers=headers)).json()["state"]
                if state in ("succeeded", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.05)
        assert state == "succeeded"

    [start] = [
        span
        for span in _in_trace(exporter.get_finished_spans())
        if span.kind is SpanKind.SERVER and span.name == "POST /api/v1/imports"
    ]
    async with asyncio.timeout(10):  # the worker process exports its spans as it ends
        while not (jobs := [span for span in otlp_receiver.spans if span.name == "job import"]):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    [job] = jobs
    assert job.trace_id.hex() == TRACE_ID
    assert job.parent_span_id.hex() == f"{start.context.span_id:016x}"
    assert job.kind == Span.SpanKind.SPAN_KIND_CONSUMER
    attributes = {attribute.key: attribute.value.string_value for attribute in job.attributes}
    assert attributes["lexica.job.kind"] == "import"
    statements = [span for span in otlp_receiver.spans if span.trace_id == job.trace_id and span.name != job.name]
    assert statements, "the job's SQL statements are spans of the same trace"


async def test_without_tracing_nothing_is_recorded(
    letter_a_database: str, recorded: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = recorded
    async for client in _client(make_settings(letter_a_database, tracing=False), provider):
        assert (await client.get("/api/v1/words/abacus", headers={"traceparent": TRACEPARENT})).status_code == 200
    assert exporter.get_finished_spans() == ()


def test_a_log_line_written_inside_a_span_names_its_trace(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = recorded
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestFields())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("lexica.test-trace-ids")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with provider.get_tracer("test").start_as_current_span("request") as span:
            logger.info("inside")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert "trace_id" not in outside
