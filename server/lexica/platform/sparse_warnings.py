"""A warning logged at most once per interval: an outage noticed by every request must not flood the logs.

Hand-written (a dozen lines): the standard library's logging has no rate limit, and a filter keyed on messages
would need the same bookkeeping plus a registry of what it has seen.
"""

from __future__ import annotations

import logging
import math
import time

DEFAULT_INTERVAL_SECONDS = 30.0


class SparseWarning:
    def __init__(self, logger: logging.Logger, interval_seconds: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self._logger = logger
        self._interval = interval_seconds
        self._warned_at = -math.inf

    def warn(self, message: str, *args: object) -> bool:
        """Log `message % args` as a warning unless one was logged less than the interval ago; whether it was."""
        now = time.monotonic()
        if now - self._warned_at < self._interval:
            return False
        self._warned_at = now
        self._logger.warning(message, *args)
        return True
