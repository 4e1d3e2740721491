"""The time Lexica stores: UTC, to the millisecond.

MongoDB keeps dates to the millisecond (BSON), SQL backends to the microsecond. Times that are stored and shown
(created_at, updated_at, added_at, last_used_at, …) are cut to the millisecond when they are made, so that what a
create returns equals what a later read returns, on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
