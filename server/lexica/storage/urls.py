"""What a database URL names, without importing any driver (a worker imports only the driver it uses)."""

from __future__ import annotations

MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


def is_mongodb_url(url: str) -> bool:
    return url.startswith(MONGODB_SCHEMES)
