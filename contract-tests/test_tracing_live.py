"""Traces across processes: an API server and a `lexica worker`, both with `LEXICA_TRACING=true`, export over
OTLP/HTTP to a collector this test runs on loopback. An import started by a request with a W3C `traceparent` is run
by the worker, whose job span must be in the caller's trace, a child of the API's span of that request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from conftest import run_live_server, run_worker, seed_database
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from seed import SAMPLE_ENTRIES

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
ADMIN = ("trace-live@lexica.test", "Quiet-Harbour-58-Lantern")


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str


class _Collector(BaseHTTPRequestHandler):
    spans: list[ExportedSpan]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ExportedSpan(
                            service, span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()
                        )
                    )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[ExportedSpan]]]:
    """An OTLP/HTTP (protobuf) trace receiver on loopback: its endpoint and the spans it has received."""
    received: list[ExportedSpan] = []
    handler = type("Collector", (_Collector,), {"spans": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_job_run_by_a_worker_joins_the_trace_of_the_request_that_started_it(
    tmp_path: Path, private_redis_url: str
) -> None:
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    with otlp_collector() as (endpoint, spans):
        env = {
            "LEXICA_REDIS_URL": private_redis_url,
            "LEXICA_TRACING": "true",
            "LEXICA_SECRET_KEY": "tracing-live-secret-key-long-enough-for-every-check",
            "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
            "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
            "LEXICA_JOB_FILES_DIR": str(tmp_path / "jobs"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 0.2 s rather than every 5 s
        }
        with (
            run_live_server(database_url, tmp_path, extra_env=env) as base_url,
            run_worker(database_url, tmp_path, extra_env=env),
            httpx.Client(base_url=base_url, timeout=10.0) as http,
        ):
            form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
            token = http.post("/api/v1/auth/token", data=form).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}", "traceparent": TRACEPARENT}
            line = json.dumps({"headword": "zztraced", "parts_of_speech": []}).encode() + b"\n"
            started = http.post(
                "/api/v1/imports", content=line, headers={**headers, "Content-Type": "application/x-ndjson"}
            )
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 60
            while http.get(started.headers["location"], headers=headers).json()["state"] != "succeeded":
                assert time.monotonic() < deadline, "the import did not succeed within a minute"
                time.sleep(0.1)
            while not any(span.name == "job import" for span in spans):
                assert time.monotonic() < deadline, f"no job span exported; spans: {spans[:20]}"
                time.sleep(0.1)

    in_trace = [span for span in spans if span.trace_id == TRACE_ID]
    [request] = [span for span in in_trace if span.service == "lexica-api" and span.name == "POST /api/v1/imports"]
    [job] = [span for span in in_trace if span.name == "job import"]
    assert request.parent_span_id == "b7ad6b7169203331"  # the caller's span
    assert job.service == "lexica-worker"
    assert job.parent_span_id == request.span_id
    # The worker's storage and Redis calls are in the trace too, under the job's span or its children.
    assert any(span.service == "lexica-worker" and span.parent_span_id == job.span_id for span in in_trace)
