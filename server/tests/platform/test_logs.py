"""Log lines cannot be forged: control characters in anything logged are escaped, one record is one line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from lexica.platform.logs import escape_control, install_log_safety

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # the format of `lexica serve`


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, formatted as `lexica serve` formats it."""
    install_log_safety()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    # uvicorn's logging config (applied once a uvicorn.Config exists in this process) stops at "uvicorn".
    listened = [root] + [logger for logger in [logging.getLogger("uvicorn")] if not logger.propagate]
    previous = root.level
    for logger in listened:
        logger.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger in listened:
            logger.removeHandler(handler)
        root.setLevel(previous)


def test_control_characters_are_written_as_escapes() -> None:
    assert escape_control("a\nb\rc\td\x00e\x1bf\x7fg\x85h\u2028i") == "a\\nb\\rc\\td\\x00e\\x1bf\\x7fg\\x85h\\u2028i"
    assert escape_control("plain text, accents é and 日本") == "plain text, accents é and 日本"


async def test_a_path_with_line_breaks_is_one_escaped_access_log_line(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    forged = "2026-01-01 00:00:00,000 INFO lexica.access GET /admin 200 0.1ms"
    response = await client.get(f"/api/v1/words/x%0A{forged.replace(' ', '%20')}%0D%1B[2J%00%E2%80%A8end")
    assert response.status_code in (404, 422)  # no route matches a line break; a headword has no controls
    access = [line for line in log_lines.getvalue().splitlines() if " lexica.access " in line]
    assert len(access) == 1, access
    assert "x\\n2026-01-01 00:00:00,000 INFO lexica.access GET /admin" in access[0]
    assert f"\\r\\x1b[2J\\x00\\u2028end {response.status_code} " in access[0]
    assert not any(char in log_lines.getvalue().rstrip("\n") for char in "\r\x1b\x00\u2028")


def test_every_logger_escapes_arguments_and_messages(log_lines: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("Invalid request: %s", "GET /\nFAKE line")
    logging.getLogger("saq").info("job %(key)s failed", {"key": "k\r\nINFO forged"})
    logging.getLogger("lexica.jobs").error("bad upload %r", b"a\nb")  # a non-string argument
    logging.getLogger("anything").info("a message written\nwith a break")
    names = (" uvicorn.error ", " saq ", " lexica.jobs ", " anything ")
    lines = [line for line in log_lines.getvalue().splitlines() if any(name in line for name in names)]
    assert len(lines) == 4, lines
    assert lines[0].endswith("Invalid request: GET /\\nFAKE line")
    assert lines[1].endswith("job k\\r\\nINFO forged failed")
    assert lines[3].endswith("a message written\\nwith a break")


def test_credentials_in_query_strings_are_still_redacted(log_lines: io.StringIO) -> None:
    logging.getLogger("lexica.access").info("GET %s", "/api/v1/ws?access_token=eyJ.secret\n.sig&x=1")
    assert "eyJ" not in log_lines.getvalue()
    assert "access_token=[redacted]&x=1" in log_lines.getvalue()


def test_installing_twice_keeps_one_record_factory() -> None:
    install_log_safety()
    factory = logging.getLogRecordFactory()
    install_log_safety()
    assert logging.getLogRecordFactory() is factory
