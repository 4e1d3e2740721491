"""Entries stored before links were indexed: SQL revision 0006 and the MongoDB start-up backfill find the names in
their content, so the entries naming a headword are found among them too."""

from __future__ import annotations

import hashlib
import json

from pymongo import AsyncMongoClient
from sqlalchemy import insert

from lexica.storage.backends import open_storage
from lexica.storage.mongo.database import ENTRIES, Document, default_database
from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.tables import entries
from lexica.words.repository import NewEntry, Precondition
from tests.conftest import make_settings


def _content(text: str) -> str:
    section = {"part_of_speech": "n.", "etymology": None, "definitions": [{"text": text, "examples": []}]}
    return json.dumps([{**section, "compounds": None, "synonyms": None}])


def _row(key: str, text: str) -> dict[str, object]:
    content = _content(text)
    digest = hashlib.sha256(content.encode()).hexdigest()
    return {"key": key, "headword": key, "version": 1, "content_hash": digest, "content": content, "weight": 1}


ROWS = [_row("abbess", "A nun. See Abbey."), _row("abbot", "A monk. See Abbey, and Monk."), _row("abbey", "A house.")]


async def _check_the_links(url: str) -> None:
    async with open_storage(make_settings(url)) as storage:
        words = storage.words
        assert [entry.key for entry in await words.naming("abbey", after=None, limit=10)] == ["abbess", "abbot"]
        assert [entry.key for entry in await words.naming("monk", after=None, limit=10)] == ["abbot"]
        # and the index is kept from then on
        content = _content("A monk.")
        edit = NewEntry("abbot", "abbot", content, hashlib.sha256(content.encode()).hexdigest(), 1)
        assert await words.replace_if("abbot", Precondition(), edit) is not None
        assert [entry.key for entry in await words.naming("abbey", after=None, limit=10)] == ["abbess"]


async def test_sql_revision_0006_indexes_the_names_of_stored_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine, "0005")
        async with engine.begin() as connection:  # rows as revision 0005 stored them: no `links` column
            await connection.execute(insert(entries), ROWS)
        await upgrade_schema(engine)
    finally:
        await engine.dispose()
    await _check_the_links(database_url)


async def test_mongodb_documents_without_links_are_backfilled_at_start(mongo_database_url: str) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_database_url)
    try:
        await default_database(client)[ENTRIES].insert_many([dict(row) for row in ROWS])
    finally:
        await client.close()
    await _check_the_links(mongo_database_url)
