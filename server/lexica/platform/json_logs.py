"""JSON log lines (`LEXICA_LOG_FORMAT=json`, production's default): one object a line, for a log pipeline.

Every line has `timestamp` (UTC, RFC 3339 with milliseconds), `level`, `logger` and `event` (the message); a line
written while a request is being answered also has its `request_id` (and `trace_id` when traced), and `user_id`
once the caller is known (an opaque id: never an email, a token or a password); an access line adds `method`,
`path`, `route` (the spec's path template), `status` and `duration_ms`; an error adds `exception` (the traceback, as
one string). Control characters cannot break a line: JSON escapes them, and the message was already escaped by the
process's record factory (`lexica.platform.logs`).

Hand-written (a few dozen lines) rather than python-json-logger: its formatter costs ~16 µs a line on this machine
(it walks every attribute of every record to find the extra fields), more than the whole handler of a cached lookup;
this one writes the fields it knows with orjson in a few microseconds, and the access log writes one line a request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace

from lexica.platform.context import current_request_id, current_user_id

# Fields a record may carry (`extra=`), written when present, in this order.
EXTRA_FIELDS = ("request_id", "trace_id", "user_id", "method", "path", "route", "status", "duration_ms")


class RequestFields(logging.Filter):
    """Adds the request id and the user id of the request being answered to a record that has none, and the trace
    id while a span is current (LEXICA_TRACING=true), so that a line leads to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if "request_id" not in fields and (request_id := current_request_id()) is not None:
            fields["request_id"] = request_id
        if "user_id" not in fields and (user_id := current_user_id()) is not None:
            fields["user_id"] = user_id
        if "trace_id" not in fields and (trace_id := current_trace_id()) is not None:
            fields["trace_id"] = trace_id
        return True


def current_trace_id() -> str | None:
    """The id of the trace being recorded (LEXICA_TRACING=true), as log lines carry it."""
    if not otel_context.get_current():
        return None  # nothing in the OpenTelemetry context, so no span: one lookup instead of several
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the time formatted once a second."""

    _second = -1
    _text = ""

    def format(self, record: logging.LogRecord) -> str:
        line = self._fields(record.created, record.msecs, record.levelname, record.name, record.getMessage())
        fields = record.__dict__
        for name in EXTRA_FIELDS:
            if (value := fields.get(name)) is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()

    def info_line(self, created: float, logger: str, message: str, extra: Mapping[str, object]) -> str:
        """The line `format` writes for an INFO record of `logger` made at `created` with this (already escaped)
        message and these extra fields: what `lexica.platform.access_log` writes without making the record."""
        line = self._fields(created, (created - int(created)) * 1000, "INFO", logger, message)
        for name in EXTRA_FIELDS:
            if (value := extra.get(name)) is not None:
                line[name] = value
        return orjson.dumps(line, default=str).decode()

    def _fields(self, created: float, msecs: float, level: str, logger: str, message: str) -> dict[str, object]:
        second = int(created)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return {
            "timestamp": f"{self._text}.{int(msecs):03d}Z",
            "level": level.lower(),
            "logger": logger,
            "event": message,
        }
