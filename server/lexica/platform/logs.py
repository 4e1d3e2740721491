"""Log lines that cannot be forged: control characters are escaped in every record of every logger.

A request path such as `/a%0A2026-01-01 INFO forged` decodes to text holding a line feed; written raw, it would
start a second, forged line in the log. Escaping is done by the record class of the whole process
(`logging.setLogRecordFactory`), so it covers our loggers, uvicorn's, SAQ's and any library's, whatever handler or
formatter prints them: string arguments are escaped when the record is made (formatters such as uvicorn's access
formatter read them directly) and the formatted message is escaped again (a non-string argument's `str()` may hold
control characters). Tracebacks stay multi-line: they are the formatter's, not the message's.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from lexica.platform.json_logs import JsonFormatter, RequestFields
from lexica.platform.log_redaction import redact, redact_access_logs

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (some log viewers break lines there).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_control(text: str) -> str:
    """`text` with each control character written as an escape (`\\n`, `\\x1b`, `\\u2028`): one line, inert."""
    return _CONTROL.sub(_escape_one, text)


def clean_text(text: str) -> str:
    """`text` with control characters escaped and credentials redacted (cheap when there is nothing to do)."""
    # Most text is printable and holds no `=`: returned as it is after two C-speed checks, without the two regular
    # expressions (a third of the cost of an access line). `isprintable` is False for every control character and
    # for the line and paragraph separators; `redact` needs an `=`.
    if text.isprintable() and "=" not in text:
        return text
    return escape_control(redact(text))


def _clean(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


class SafeLogRecord(logging.LogRecord):
    """A log record whose message can never hold a control character (nor a credential in a query string)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.args, Mapping):
            self.args = {key: _clean(value) for key, value in self.args.items()}
        elif isinstance(self.args, tuple):
            self.args = tuple(_clean(value) for value in self.args)

    def getMessage(self) -> str:
        return clean_text(super().getMessage())


def _pre_formatting(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """For a process where another library set its own record factory: escape on top of it, formatting eagerly."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.msg, record.args = escape_control(redact(record.getMessage())), None
        return record

    make.lexica_escapes = True  # type: ignore[attr-defined]
    return make


def install_log_safety() -> None:
    """Make every log record of this process escape control characters (idempotent); keep uvicorn's redaction."""
    factory = logging.getLogRecordFactory()
    if factory is logging.LogRecord:
        logging.setLogRecordFactory(SafeLogRecord)
    elif factory is not SafeLogRecord and not getattr(factory, "lexica_escapes", False):
        logging.setLogRecordFactory(_pre_formatting(factory))
    redact_access_logs()


SERVER_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ConsoleFormatter(logging.Formatter):
    """The development formatter: readable lines, ending with the request id and the user id of the request being
    answered when there is one; the date and time formatted once a second rather than once a line."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.default_msec_format is None:
            return super().formatTime(record, datefmt)
        return self._time_text(record.created, record.msecs)

    def _time_text(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(created))
            self._second = second
        return self.default_msec_format % (self._text, msecs)  # type: ignore[operator]  # checked by callers

    def format(self, record: logging.LogRecord) -> str:
        return _with_request_fields(super().format(record), record.__dict__)

    def info_line(self, created: float, logger: str, message: str, extra: Mapping[str, object]) -> str | None:
        """The line `format` writes for an INFO record of `logger` made at `created` with this (already escaped)
        message and these extra fields, or None when this formatter is configured otherwise than the server's."""
        if self._fmt != SERVER_LOG_FORMAT or self.datefmt is not None or self.default_msec_format is None:
            return None
        asctime = self._time_text(created, int((created - int(created)) * 1000) + 0.0)  # as LogRecord's msecs
        return _with_request_fields(f"{asctime} INFO {logger} {message}", extra)


def _with_request_fields(line: str, fields: Mapping[str, object]) -> str:
    if (request_id := fields.get("request_id")) is not None:
        line = f"{line} request_id={request_id}"
    if (trace_id := fields.get("trace_id")) is not None:
        line = f"{line} trace_id={trace_id}"
    if (user_id := fields.get("user_id")) is not None:
        line = f"{line} user_id={user_id}"
    return line


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes log lines to a stream with a large buffer, flushed `interval` seconds after (a background thread),
    at once for WARNING and above, and when logging shuts down.

    A `StreamHandler` flushes after every line: one `write` system call per request for the access log, which
    costs more than the rest of a cached lookup does on a virtual machine. Hand-written because the library
    handlers that buffer (`MemoryHandler`) still flush their target once per record. The price: a process killed
    with SIGKILL loses up to `interval` seconds of lines.
    """

    def __init__(self, fd: int, *, interval: float = 0.2) -> None:
        stream = open(  # noqa: SIM115 - a handler owns its stream until `close`
            fd, "w", buffering=1 << 16, encoding="utf-8", errors="backslashreplace", closefd=False
        )
        super().__init__(stream)
        self._interval = interval
        self._closed = threading.Event()
        threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True).start()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(self._interval):
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:  # as StreamHandler does: report, never raise into the caller
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """Writes a line formatted elsewhere (`lexica.platform.access_log`), as `emit` writes an INFO record's."""
        with self.lock:  # type: ignore[union-attr]  # a Handler's lock exists once it is constructed
            try:
                self.stream.write(line + self.terminator)
            except Exception:
                if logging.raiseExceptions:
                    sys.stderr.write("--- logging error: a log line could not be written\n")

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()


def configure_server_logging(level: str | int, log_format: Literal["console", "json"] = "console") -> None:
    """Log lines of a server or worker process: to stderr at `level`, readable (`console`) or one JSON object a line
    (`json`), escaped and redacted, each with the request id and user id of the request being answered, as cheaply
    as logging allows.

    The access log writes a line per request: the logging HOWTO's optimisations are applied (no caller lookup,
    no thread or process names: the format prints none of them) and the time is formatted once a second.
    """
    handler = BatchingStreamHandler(sys.stderr.fileno())
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter(SERVER_LOG_FORMAT))
    handler.addFilter(RequestFields())
    logging.basicConfig(level=level, handlers=[handler])
    logging._srcfile = None  # documented in the HOWTO ("Optimization"): skips a stack walk per record
    logging.logThreads = False
    logging.logMultiprocessing = False
    install_log_safety()
