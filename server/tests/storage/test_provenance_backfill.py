"""Entries stored before provenance was recorded: SQL revision 0003 and the MongoDB start-up backfill give them the
same reading (imported from GCIDE; edited when above version 1), so a later import keeps what an editor may have
changed."""

from __future__ import annotations

import hashlib

from pymongo import AsyncMongoClient
from sqlalchemy import insert

from lexica.storage.backends import open_storage
from lexica.storage.mongo.database import ENTRIES, Document, default_database
from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.tables import entries
from lexica.words.importing import import_entries
from lexica.words.repository import NewEntry, UpsertCounts
from tests.conftest import make_settings


def _row(key: str, version: int, content: str = "[]") -> dict[str, object]:
    digest = hashlib.sha256(content.encode()).hexdigest()
    return {"key": key, "headword": key, "version": version, "content_hash": digest, "content": content, "weight": 1}


def _new(key: str, content: str) -> NewEntry:
    return NewEntry(key, key, content, hashlib.sha256(content.encode()).hexdigest(), 1)


async def _check_the_reading(url: str) -> None:
    async with open_storage(make_settings(url)) as storage:
        touched, untouched = await storage.words.get("touched"), await storage.words.get("untouched")
        assert touched is not None
        assert untouched is not None
        assert (touched.source, touched.edited, untouched.source, untouched.edited) == ("gcide", True, "gcide", False)
        counts = (await import_entries(storage.words, [_new("touched", "[9]"), _new("untouched", "[9]")])).counts
        assert counts == UpsertCounts(updated=1, skipped_edited=1, conflicts=("touched",))


async def test_sql_revision_0003_marks_rows_above_version_one_edited(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine, "0002")
        async with engine.begin() as connection:  # rows as revision 0002 stored them: no provenance columns
            await connection.execute(insert(entries), [_row("touched", 2, "[1]"), _row("untouched", 1)])
        await upgrade_schema(engine)
    finally:
        await engine.dispose()
    await _check_the_reading(database_url)


async def test_mongodb_documents_without_provenance_are_backfilled_at_start(mongo_database_url: str) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_database_url)
    try:
        await default_database(client)[ENTRIES].insert_many([_row("touched", 2, "[1]"), _row("untouched", 1)])
    finally:
        await client.close()
    await _check_the_reading(mongo_database_url)
