"""The access line written without `logging`'s record machinery is byte for byte the line `logging` writes, and
that shortcut is taken only where nothing configured on the way could have changed the line."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from lexica.platform.access_log import access_log, direct_handler, log_access
from lexica.platform.context import RequestContext, set_request_context
from lexica.platform.json_logs import JsonFormatter, RequestFields
from lexica.platform.logs import SERVER_LOG_FORMAT, BatchingStreamHandler, ConsoleFormatter, install_log_safety

NOW = 1_764_312_345.0784  # a fixed clock: both paths read `time.time`


class Written:
    """The server's handler (as `configure_server_logging` makes it) writing to a file instead of stderr."""

    def __init__(self, path: Path, log_format: Literal["console", "json"]) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self.handler = BatchingStreamHandler(self._fd, interval=60)
        self.handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter(SERVER_LOG_FORMAT))
        self.handler.addFilter(RequestFields())

    def alone(self) -> None:
        """Make this the root logger's only handler (pytest adds its capture handlers once the test starts)."""
        logging.getLogger().handlers = [self.handler]

    def lines(self) -> list[str]:
        self.handler.flush()
        return self.path.read_text(encoding="utf-8").splitlines()

    def close(self) -> None:
        self.handler.close()
        os.close(self._fd)


@pytest.fixture(params=["console", "json"])
def written(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Written]:
    install_log_safety()
    monkeypatch.setattr(time, "time", lambda: NOW)
    target = Written(tmp_path / "log", request.param)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [target.handler])
    monkeypatch.setattr(root, "level", logging.INFO)
    monkeypatch.setattr(access_log, "level", logging.NOTSET)
    monkeypatch.setattr(access_log, "propagate", True)
    monkeypatch.setattr(access_log, "handlers", [])
    monkeypatch.setattr(access_log, "filters", [])
    logging.getLogger("lexica").setLevel(logging.NOTSET)
    access_log.manager._clear_cache()  # type: ignore[attr-defined]  # isEnabledFor caches levels
    try:
        yield target
    finally:
        target.close()
        access_log.manager._clear_cache()  # type: ignore[attr-defined]


def _both_ways(path: str, *, user_id: str | None, status: int = 200) -> None:
    """The same access line twice: the direct way, then through `logging` (a pass-everything filter on the
    logger rules the direct way out without changing the line)."""
    scope = {"method": "GET", "path": path}
    assert direct_handler() is not None
    log_access(scope, status, 0.0012345, "4f2a9c", route="/api/v1/words/{headword}", user_id=user_id)
    access_log.addFilter(pass_all := logging.Filter())
    try:
        assert direct_handler() is None
        log_access(scope, status, 0.0012345, "4f2a9c", route="/api/v1/words/{headword}", user_id=user_id)
    finally:
        access_log.removeFilter(pass_all)


@pytest.mark.parametrize(
    ("path", "user_id"),
    [
        ("/api/v1/words/apple", None),
        ("/api/v1/lists/7", "0b5c3a2e-user"),
        ("/api/v1/words/x\n2026-01-01 00:00:00,000 INFO forged\r\x1b[2J\x00\u2028end", None),  # escaped
        ("/api/v1/ws?access_token=eyJ.secret.sig&x=1", None),  # redacted
        ("/api/v1/words/日本語 é", "u"),
    ],
)
def test_the_direct_line_is_the_line_logging_writes(written: Written, path: str, user_id: str | None) -> None:
    written.alone()
    set_request_context(RequestContext(request_id="4f2a9c", client_ip="127.0.0.1"))
    _both_ways(path, user_id=user_id)
    direct, standard = written.lines()
    assert direct == standard
    assert "eyJ" not in direct
    assert not any(char in direct for char in "\r\x1b\x00\u2028")


def test_a_traced_request_has_its_trace_id_on_both_lines(written: Written) -> None:
    context = SpanContext(0x5B8AA5A2D2C872E8321CF37308D69DF2, 0x51, is_remote=False, trace_flags=TraceFlags(1))
    written.alone()
    with trace.use_span(NonRecordingSpan(context)):
        _both_ways("/api/v1/words/apple", user_id=None)
    direct, standard = written.lines()
    assert direct == standard
    assert "5b8aa5a2d2c872e8321cf37308d69df2" in direct


def test_anything_that_could_change_the_line_takes_the_standard_path(written: Written) -> None:
    written.alone()
    assert direct_handler() is written.handler
    root = logging.getLogger()

    another = logging.StreamHandler()
    root.addHandler(another)
    assert direct_handler() is None  # a second handler would get the record too
    root.removeHandler(another)

    written.handler.addFilter(logging.Filter("lexica"))
    assert direct_handler() is None  # an operator's filter on the handler
    written.handler.removeFilter(written.handler.filters[-1])

    written.handler.setFormatter(logging.Formatter("%(message)s"))
    assert direct_handler() is None  # another formatter
    written.handler.setFormatter(ConsoleFormatter("%(levelname)s %(message)s"))
    assert direct_handler() is written.handler  # a ConsoleFormatter of another format refuses per line instead
    set_request_context(RequestContext(request_id="r", client_ip=None))
    log_access({"method": "GET", "path": "/x"}, 200, 0.001, "r", route="/x", user_id=None)
    assert written.lines() == ["INFO GET /x 200 1.0ms request_id=r"]

    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        assert direct_handler() is None  # another record factory may add or change fields
    finally:
        logging.setLogRecordFactory(previous)

    access_log.propagate = False
    assert direct_handler() is None  # no handler reached at all: logging decides (lastResort)
