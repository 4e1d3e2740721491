"""Access tokens in query strings never reach the logs."""

from __future__ import annotations

import logging

import pytest

from lexica.platform.log_redaction import RedactCredentials, redact_access_logs


def test_uvicorn_access_lines_lose_the_token(caplog: pytest.LogCaptureFixture) -> None:
    redact_access_logs()
    redact_access_logs()  # idempotent
    logger = logging.getLogger("uvicorn.access")
    assert sum(isinstance(f, RedactCredentials) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/api/v1/ws?access_token=eyJ.secret.sig&x=1", "1.1", 101
        )
        logger.info("WebSocket /api/v1/ws?ACCESS_TOKEN=abc [accepted]")
    text = caplog.text
    assert "eyJ.secret.sig" not in text
    assert "abc" not in text
    assert "access_token=[redacted]&x=1" in text
