"""Open the storage backend the database URL names: SQL (SQLite, PostgreSQL) or MongoDB, behind the same ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.pool import QueuePool

from lexica.auth.repository import AuthStorage
from lexica.lists.repository import ListRepository
from lexica.platform.tracing import traced_sql
from lexica.settings import Settings
from lexica.storage.sql import database as sql
from lexica.storage.sql.auth import sql_auth_storage
from lexica.storage.sql.lists import SqlListRepository
from lexica.storage.sql.sqlite_point_reads import SqlitePointReads
from lexica.storage.sql.words import SqlWordRepository
from lexica.storage.urls import is_mongodb_url
from lexica.words.repository import WordRepository

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


@dataclass
class Storage:
    words: WordRepository
    auth: AuthStorage
    lists: ListRepository
    backend: str  # "sqlite" | "postgresql" | "mongodb"
    _ping: Callable[[], Awaitable[None]] = field(repr=False)
    # Connections of the pool lent out now (SQL; None where the driver keeps no such count)
    connections_in_use: Callable[[], int] | None = field(default=None, repr=False)

    async def ping(self) -> None:
        """Raise unless the database answers."""
        await self._ping()


@asynccontextmanager
async def open_storage(settings: Settings, tracer_provider: TracerProvider | None = None) -> AsyncIterator[Storage]:
    """Connect, migrate the schema (SQL) or ensure the indexes (MongoDB), and close everything on exit; with a
    `tracer_provider`, SQL statements and MongoDB commands are traced."""
    if is_mongodb_url(settings.database_url):
        opened = _open_mongodb(settings, tracer_provider)
    else:
        opened = _open_sql(settings, tracer_provider)
    async with opened as storage:
        yield storage


@asynccontextmanager
async def _open_mongodb(settings: Settings, tracer_provider: TracerProvider | None) -> AsyncIterator[Storage]:
    # Imported here: PyMongo costs a worker about 15 MB of memory, wasted on SQLite and PostgreSQL.
    from lexica.storage.mongo import database as mongo
    from lexica.storage.mongo.auth import mongo_auth_storage
    from lexica.storage.mongo.lists import MongoListRepository
    from lexica.storage.mongo.words import (
        MongoWordRepository,
        backfill_links,
        backfill_meanings,
        backfill_provenance,
    )

    listeners = []
    if tracer_provider is not None:
        from lexica.storage.mongo.command_spans import command_spans

        listeners.append(command_spans(tracer_provider))
    client = mongo.create_client(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout_seconds=settings.database_pool_timeout_seconds,
        event_listeners=listeners,
    )
    try:
        database = mongo.default_database(client)
        await mongo.ensure_indexes(database)
        await backfill_provenance(database)  # as SQL revision 0003 does for rows stored before it
        await backfill_meanings(database)  # and as revision 0005 does
        await backfill_links(database)  # and 0006
        yield Storage(
            words=MongoWordRepository(database),
            auth=mongo_auth_storage(database),
            lists=MongoListRepository(database),
            backend="mongodb",
            _ping=partial(mongo.ping, client),
        )
    finally:
        await client.close()


@asynccontextmanager
async def _open_sql(settings: Settings, tracer_provider: TracerProvider | None) -> AsyncIterator[Storage]:
    engine = sql.create_engine(
        settings.database_url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout_seconds=settings.database_pool_timeout_seconds,
    )
    # Traced, every read goes through the engine, whose statements are the spans; otherwise a SQLite file's entry
    # reads by key go through a connection of their own (`SqlitePointReads`: a cache miss costs a tenth).
    point_reads = SqlitePointReads.for_url(engine.url) if tracer_provider is None else None
    with ExitStack() as tracing:
        if tracer_provider is not None:
            tracing.enter_context(traced_sql(engine, tracer_provider))
        try:
            await sql.upgrade_schema(engine)
            yield Storage(
                words=SqlWordRepository(engine, point_reads=point_reads),
                auth=sql_auth_storage(engine),
                lists=SqlListRepository(engine),
                backend=engine.dialect.name,
                _ping=partial(sql.ping, engine),
                connections_in_use=engine.pool.checkedout if isinstance(engine.pool, QueuePool) else None,
            )
        finally:
            if point_reads is not None:
                point_reads.close()
            await engine.dispose()


async def upgrade_storage(settings: Settings, revision: str = "head") -> str:
    """`lexica db upgrade`: migrate SQL to `revision`, or ensure MongoDB's indexes; what was done, for the console."""
    if not is_mongodb_url(settings.database_url):
        await sql.upgrade_schema(settings.database_url, revision)
        return f"Database schema is at {revision}."
    if revision != "head":
        raise ValueError("MongoDB has no schema revisions: use 'head' (ensures the indexes)")
    async with open_storage(settings):
        pass
    return "MongoDB indexes are in place."
