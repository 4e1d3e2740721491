"""The client's `logging`: records of every request attempt and retry on the `lexica_client` logger, silent
unless the application configures logging or sets `LEXICA_LOG` to `debug` (every attempt: method, path, status,
attempt, request id) or `info` (retries only)."""

from __future__ import annotations

import logging
import os

LOG_ENV = "LEXICA_LOG"
logger = logging.getLogger("lexica_client")
logger.addHandler(logging.NullHandler())
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


def configure_from_environment() -> None:
    """Send the client's records to stderr at `LEXICA_LOG`'s level, once (a library adds no handler otherwise)."""
    level = _LEVELS.get(os.environ.get(LOG_ENV, "").strip().lower())
    if level is None or any(getattr(h, "lexica_env_handler", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.lexica_env_handler = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
