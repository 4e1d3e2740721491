"""Entry reads by key on a SQLite file go through a read-only connection of their own; they see every committed
write at once, and anything that connection cannot answer falls back to the engine. (The repository conformance
suites run every SQLite read through it as well.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from lexica.storage.backends import open_storage
from lexica.storage.sql.sqlite_point_reads import SqlitePointReads
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.repository import NewEntry, Precondition
from tests.conftest import make_settings
from tests.storage.test_word_repository import entry


def _entry(headword: str, text: str) -> NewEntry:
    return entry(headword, f'[{{"part_of_speech":"n.","definitions":[{{"text":"{text}","examples":[]}}]}}]')


def test_only_a_sqlite_file_gets_its_own_reads(tmp_path: Path) -> None:
    assert SqlitePointReads.for_url(make_url(f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}")) is not None
    assert SqlitePointReads.for_url(make_url("sqlite+aiosqlite://")) is None
    assert SqlitePointReads.for_url(make_url("sqlite+aiosqlite:///:memory:")) is None
    assert SqlitePointReads.for_url(make_url("postgresql+asyncpg://u@localhost/test")) is None


def test_a_missing_file_is_an_error_the_caller_falls_back_on(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.Error):
        SqlitePointReads(tmp_path / "absent.sqlite3").entry("apple")
    assert not (tmp_path / "absent.sqlite3").exists()  # never created by a read


async def test_reads_see_each_committed_write_at_once_and_cannot_write(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reads.sqlite3'}"
    async with open_storage(make_settings(url)) as storage:
        words = storage.words
        assert isinstance(words, SqlWordRepository)
        reads = words._point_reads
        assert reads is not None
        assert await words.get("apple") is None
        created = await words.create(_entry("apple", "A fruit."))
        assert (await words.get("apple")) == created
        assert reads.entry("apple") == created  # through the connection itself, not the engine
        assert created is not None
        updated = await words.replace_if("apple", Precondition(version=created.version), _entry("apple", "A pome."))
        assert updated is not None
        assert (await words.get("apple")) == updated
        assert await words.delete_if("apple", Precondition(version=updated.version))
        assert await words.get("apple") is None
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reads._open().execute("DELETE FROM entries")


async def test_when_its_connection_cannot_answer_the_engine_does(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fallback.sqlite3'}"
    async with open_storage(make_settings(url)) as storage:
        created = await storage.words.create(_entry("apple", "A fruit."))
        assert isinstance(storage.words, SqlWordRepository)
        unable = SqlWordRepository(storage.words._engine, point_reads=SqlitePointReads(tmp_path / "elsewhere"))
        assert await unable.get("apple") == created
        assert await unable.headwords_of(["apple", "pear"]) == {"apple": "Apple"}


async def test_the_headwords_an_entry_names_are_read_the_same_way(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'names.sqlite3'}"
    async with open_storage(make_settings(url)) as storage:
        words = storage.words
        assert isinstance(words, SqlWordRepository)
        reads = words._point_reads
        assert reads is not None
        await words.create(_entry("apple", "A fruit."))
        await words.create(_entry("pear", "Another."))
        assert reads.headwords_of(["apple", "pear", "quince", "o'clock"]) == {"apple": "Apple", "pear": "Pear"}
        assert await words.headwords_of(["pear", "quince"]) == {"pear": "Pear"}
        with pytest.raises(sqlite3.OperationalError):
            reads.headwords_of([f"key{number}" for number in range(501)])  # the caller's engine path reads those
        assert await words.headwords_of([f"key{number}" for number in range(501)]) == {}
