"""A fresh PostgreSQL database per test module (the service at 127.0.0.1:5432 here and in CI)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ADMIN_URL_ENV = "LEXICA_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _admin(statement: str, admin_url: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """URL of a database created for this module and dropped afterwards; skips (or fails in CI) without PG."""
    admin_url = os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)
    name = f"lexica_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"', admin_url))
    except (OSError, Exception) as exc:
        reason = f"PostgreSQL is not available at {admin_url} ({type(exc).__name__}: {exc}); set {ADMIN_URL_ENV}"
        if os.environ.get("LEXICA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}. LEXICA_REQUIRE_SERVICES=1 requires it.")
        pytest.skip(reason)
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url))
