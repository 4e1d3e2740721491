"""Keeps credentials out of access logs.

Browsers cannot set headers on a WebSocket, so `/api/v1/ws` also accepts `?access_token=`; uvicorn's access log
would print it with the path. This filter rewrites the value before any handler formats the record.
"""

from __future__ import annotations

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"(?i)((?:access_token|token|api_key)=)[^&\s\"']+")


def redact(text: str) -> str:
    """`text` with the value of each credential-bearing query parameter replaced by `[redacted]`."""
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                redact(arg) if isinstance(arg, str) else arg
                for arg in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_logs() -> None:
    """Install the filter on uvicorn's loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactCredentials) for existing in logger.filters):
            logger.addFilter(RedactCredentials())
