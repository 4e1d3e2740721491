"""The SQL engine: created from settings, tuned per dialect, migrated by Alembic, disposed on shutdown."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while the importer writes; NORMAL sync is durable across application crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(
    database_url: str,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout_seconds: float = 30.0,
) -> AsyncEngine:
    """An async engine; the pool options apply to server databases (SQLite keeps its own per-file pool)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    # Transient connection failures: pool_pre_ping replaces a pooled connection the server has dropped (restart,
    # failover, idle timeout) before a request uses it, so that case never reaches a query. Nothing is retried once
    # a statement has been sent: a write whose outcome is unknown is not replayed blindly; the error reaches the
    # client (503/500), which may retry with its own Idempotency-Key or If-Match precondition.
    return create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_seconds,
    )


MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_246_117  # any constant: the PostgreSQL advisory lock that serialises concurrent upgrades


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """Alembic's configuration, built in code: run on `connection`, or (the `alembic` command) on `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if url is not None:
        config.attributes["url"] = url
    return config


def lock_migrations(connection: Connection) -> None:
    """Hold off other migrating instances until this transaction ends (PostgreSQL; a no-op elsewhere)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


def _upgrade(connection: Connection, revision: str) -> None:
    lock_migrations(connection)
    tables = set(inspect(connection).get_table_names())
    config = alembic_config(connection)
    if "entries" in tables and "alembic_version" not in tables:
        # A database made before migrations existed, by create_all, holds exactly the first revision's schema.
        command.stamp(config, "0001")
    command.upgrade(config, revision)


# Alembic keeps its migration context in module globals, so one process runs one upgrade at a time.
_UPGRADE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _upgrade_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _UPGRADE_LOCKS:
        _UPGRADE_LOCKS[loop] = asyncio.Lock()
    return _UPGRADE_LOCKS[loop]


async def _upgrade_engine(engine: AsyncEngine, revision: str) -> None:
    for attempt in range(3):
        try:
            # One transaction: on PostgreSQL the DDL, the version stamp and the advisory lock commit together.
            async with _upgrade_lock(), engine.begin() as connection:
                await connection.run_sync(_upgrade, revision)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # SQLite has no advisory lock: another process migrated between our check and our write; retry.
            if attempt == 2:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


async def upgrade_schema(engine_or_url: AsyncEngine | str, revision: str = "head") -> None:
    """`alembic upgrade <revision>`: idempotent, and instances starting at once wait for each other."""
    if isinstance(engine_or_url, AsyncEngine):
        await _upgrade_engine(engine_or_url, revision)
        return
    engine = create_engine(engine_or_url)
    try:
        await _upgrade_engine(engine, revision)
    finally:
        await engine.dispose()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
