"""Bulk import: idempotent re-runs, version bumps only for changed content."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.gcide import SourceReport, read_entries
from lexica.words.importing import import_entries
from lexica.words.repository import NewEntry
from tests.conftest import letter_files


def _entry(key: str, content: str) -> NewEntry:
    return NewEntry(
        key=key,
        headword=key,
        content=content,
        content_hash=hashlib.sha256(content.encode()).hexdigest(),
        weight=1,
    )


async def test_reimport_adds_nothing_and_changes_nothing(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        await upgrade_schema(engine)
        repository = SqlWordRepository(engine)
        entries = read_entries(letter_files("X", "Q"), SourceReport())
        first = await import_entries(repository, entries, batch_size=500)
        second = await import_entries(repository, entries, batch_size=700)
        assert first.counts.inserted == len(entries)
        assert second.counts.inserted == 0
        assert second.counts.updated == 0
        assert second.counts.unchanged == len(entries)
        assert await repository.count() == len(entries)
    finally:
        await engine.dispose()


async def test_changed_content_bumps_the_version_once(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        await upgrade_schema(engine)
        repository = SqlWordRepository(engine)
        await repository.upsert_many([_entry("word", "[]"), _entry("other", "[]")], source="gcide")
        counts = await repository.upsert_many(
            [_entry("word", '[{"changed": true}]'), _entry("other", "[]")], source="gcide"
        )
        assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
        stored = await repository.get("word")
        assert stored is not None
        assert stored.version == 2
        assert stored.content == '[{"changed": true}]'
        untouched = await repository.get("other")
        assert untouched is not None
        assert untouched.version == 1
    finally:
        await engine.dispose()
