"""Alembic migrations: they build exactly the schema the code declares, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from lexica.storage.sql.database import alembic_config, create_engine, upgrade_schema
from lexica.storage.sql.tables import include_object, metadata

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # raises if the history has branched
# What `create_all` made before migrations existed: exactly the tables of the first revision.
FIRST_REVISION_TABLES = {"entries", "users", "recovery_codes", "refresh_tokens", "api_keys", "audit_events"}
LATER_COLUMNS = [
    ("entries", "source"),
    ("entries", "edited"),
    ("entries", "meaning"),
    ("entries", "links"),
]  # 0003, 0005, 0006


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"include_object": include_object})
    return list(compare_metadata(context, metadata))


def _version(connection: Connection) -> str:
    return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


async def _check_fresh_database(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_schema(engine)
        await upgrade_schema(engine)  # a second run changes nothing
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            assert await connection.run_sync(_version) == HEAD
    finally:
        await engine.dispose()


async def test_migrations_build_the_declared_schema_idempotently(database_url: str) -> None:
    await _check_fresh_database(database_url)


async def test_instances_starting_at_once_migrate_once(database_url: str) -> None:
    """Separate processes, as separate server instances are: the advisory lock (or SQLite's retry) serialises them."""
    lexica = Path(sys.executable).with_name("lexica")
    environment = {**os.environ, "LEXICA_DATABASE_URL": database_url}
    processes = [
        await asyncio.create_subprocess_exec(str(lexica), "db", "upgrade", env=environment, stdout=PIPE, stderr=PIPE)
        for _ in range(4)
    ]
    outcomes = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outcomes
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            assert await connection.run_sync(_version) == HEAD
    finally:
        await engine.dispose()


async def test_a_database_made_before_migrations_is_adopted(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'legacy.sqlite3'}")
    try:
        legacy = [metadata.tables[name] for name in sorted(FIRST_REVISION_TABLES)]
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: metadata.create_all(sync, tables=legacy))
            for table, column in LATER_COLUMNS:  # columns later revisions added to those tables
                await connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        await upgrade_schema(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_version) == HEAD
            assert await connection.run_sync(_differences) == []  # the later revisions ran on top
    finally:
        await engine.dispose()


@pytest.mark.parametrize("revision", ["base"])
async def test_downgrade_to_base_removes_the_schema(tmp_path: Path, revision: str) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'down.sqlite3'}")
    try:
        await upgrade_schema(engine)
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables <= {"alembic_version"}
    finally:
        await engine.dispose()


async def test_downgrade_to_the_first_revision_removes_the_later_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'down.sqlite3'}")
    try:
        await upgrade_schema(engine)
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0001"))
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert await connection.run_sync(_version) == "0001"
        assert tables == FIRST_REVISION_TABLES | {"alembic_version"}
        await upgrade_schema(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_the_alembic_environment_opens_a_database_by_url(database_url: str) -> None:
    """What the `alembic` command does when no connection is handed in (env.py runs its own event loop)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url=database_url), "head")
    await _check_fresh_database(database_url)
