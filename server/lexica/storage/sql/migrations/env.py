"""Alembic environment: runs on the connection `upgrade_schema` passes in, or opens the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from lexica.storage.sql.tables import include_object, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        include_object=include_object,  # the engine-specific full-text structures are not in the metadata
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    from lexica.storage.sql.database import create_engine, lock_migrations

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lock_migrations)
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _configured_url() -> str:
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from lexica.settings import Settings

    return Settings().database_url


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run `lexica db upgrade`")
given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_on_url(_configured_url()))
