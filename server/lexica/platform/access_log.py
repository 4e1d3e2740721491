"""The access log: one line per request, written as cheaply as the process's logging configuration allows.

Through `logging`, an access line costs about 100,000 CPU instructions (a `LogRecord` with some twenty attributes,
the record factory's escaping, the filter, the formatter): as much as the rest of a cached lookup, and more than
the bare HTTP server's whole work for a request. So when the record would reach only the handler
`configure_server_logging` installs — no filter, no other handler, no other record factory on the way — the line
is formatted by that handler's own formatter from the fields alone and written to its stream: the same bytes
`logging` would write (`server/tests/platform/test_access_log.py` compares them), a tenth of the cost. Any other
configuration (an operator's `dictConfig`, a test's capture handler, a filter) takes the standard path.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Scope

from lexica.platform.json_logs import JsonFormatter, RequestFields, current_trace_id
from lexica.platform.logs import BatchingStreamHandler, ConsoleFormatter, SafeLogRecord, clean_text

access_log = logging.getLogger("lexica.access")
ACCESS_FORMAT = "%s %s %d %.1fms"


def log_access(scope: Scope, status: int, seconds: float, request_id: str, *, route: str, user_id: str | None) -> None:
    """The access log line of one request (when the `lexica.access` logger is enabled at INFO); its fields for
    JSON lines (`lexica.platform.json_logs`) as extras."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    method, path = scope["method"], scope["path"]
    extra: dict[str, object] = {
        "request_id": request_id,
        "user_id": user_id,
        "method": method,
        "path": clean_text(path),  # escaped and redacted, as the message is (SafeLogRecord)
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
    }
    if (handler := direct_handler()) is not None:
        # What SafeLogRecord does: string arguments escaped, then the formatted message again.
        message = clean_text(ACCESS_FORMAT % (clean_text(method), extra["path"], status, duration_ms))
        if (trace_id := current_trace_id()) is not None:
            extra["trace_id"] = trace_id  # what RequestFields adds
        formatter = handler.formatter
        assert isinstance(formatter, ConsoleFormatter | JsonFormatter)  # checked by direct_handler
        line = formatter.info_line(time.time(), access_log.name, message, extra)
        if line is not None:
            handler.write_line(line)
            return
    access_log.info(ACCESS_FORMAT, method, path, status, duration_ms, extra=extra)


def direct_handler() -> BatchingStreamHandler | None:
    """The one handler an INFO record of `lexica.access` would reach, when nothing on the way could change what it
    writes (a filter other than RequestFields, a second handler, a handler level above INFO, another record factory);
    None otherwise."""
    if logging.getLogRecordFactory() is not SafeLogRecord:
        return None
    found: BatchingStreamHandler | None = None
    logger: logging.Logger | None = access_log
    while logger is not None:
        if logger.filters:
            return None
        for handler in logger.handlers:
            if (
                found is not None
                or type(handler) is not BatchingStreamHandler
                or handler.level > logging.INFO
                or type(handler.formatter) not in (ConsoleFormatter, JsonFormatter)
                or any(type(attached) is not RequestFields for attached in handler.filters)
            ):
                return None
            found = handler
        if not logger.propagate:
            break
        logger = logger.parent
    return found
