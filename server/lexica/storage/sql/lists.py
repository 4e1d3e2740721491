"""`ListRepository` on SQLAlchemy 2 async.

Every write to an existing list is one transaction that starts with the conditional UPDATE of the list row
(`WHERE id = :id AND version = :version`). On PostgreSQL that UPDATE takes the row lock, so a concurrent writer at the
same version waits, re-evaluates its WHERE against the committed row and matches nothing; on SQLite it takes the
database's write lock before anything is read (a transaction that read first could not upgrade to a writer once
another had committed). The words are read and written only after it, under that lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lexica.lists.repository import (
    MAX_WORDS_PER_LIST,
    ListDetails,
    ListFull,
    ListRecord,
    ListWord,
    WordRemoved,
    WordsAdded,
)
from lexica.storage.sql.tables import word_list_words, word_lists

_LOOKUP_CHUNK = 500  # stays below SQLite's bound-parameter limit


def _record(row: Row[tuple[object, ...]]) -> ListRecord:
    m = row._mapping
    return ListRecord(
        id=m["id"],
        owner_id=m["owner_id"],
        name=m["name"],
        description=m["description"],
        public=bool(m["public"]),
        version=m["version"],
        word_count=m["word_count"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


async def _claim(connection: AsyncConnection, list_id: str, version: int) -> ListRecord | None:
    """Lock the list row while it is at `version` (a write that changes nothing); None when missing or stale."""
    row = (
        await connection.execute(
            update(word_lists)
            .where(word_lists.c.id == list_id, word_lists.c.version == version)
            .values(version=word_lists.c.version)
            .returning(*word_lists.c)
        )
    ).first()
    return None if row is None else _record(row)


async def _bump(connection: AsyncConnection, list_id: str, word_delta: int, now: datetime) -> ListRecord:
    """Count the change on the claimed row: one version more, the word count kept exact."""
    row = (
        await connection.execute(
            update(word_lists)
            .where(word_lists.c.id == list_id)
            .values(
                version=word_lists.c.version + 1,
                word_count=word_lists.c.word_count + word_delta,
                updated_at=now,
            )
            .returning(*word_lists.c)
        )
    ).one()
    return _record(row)


async def _present_keys(connection: AsyncConnection, list_id: str, keys: Sequence[str]) -> set[str]:
    present: set[str] = set()
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = list(keys[start : start + _LOOKUP_CHUNK])
        rows = await connection.execute(
            select(word_list_words.c.key).where(word_list_words.c.list_id == list_id, word_list_words.c.key.in_(chunk))
        )
        present.update(rows.scalars())
    return present


class SqlListRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_list(self, record: ListRecord) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(word_lists).values(
                    id=record.id,
                    owner_id=record.owner_id,
                    name=record.name,
                    description=record.description,
                    public=record.public,
                    version=record.version,
                    word_count=record.word_count,
                    created_at=record.created_at,
                    updated_at=record.updated_at,
                )
            )

    async def get_list(self, list_id: str) -> ListRecord | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(word_lists).where(word_lists.c.id == list_id))).first()
        return None if row is None else _record(row)

    async def lists_of(self, owner_id: str, *, after: str | None, limit: int) -> list[ListRecord]:
        query = select(word_lists).where(word_lists.c.owner_id == owner_id).order_by(word_lists.c.id).limit(limit)
        if after is not None:
            query = query.where(word_lists.c.id > after)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_record(row) for row in rows]

    async def update_list_if(
        self, list_id: str, version: int, details: ListDetails, now: datetime
    ) -> ListRecord | None:
        statement = (
            update(word_lists)
            .where(word_lists.c.id == list_id, word_lists.c.version == version)
            .values(
                name=details.name,
                description=details.description,
                public=details.public,
                version=word_lists.c.version + 1,
                updated_at=now,
            )
            .returning(*word_lists.c)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else _record(row)

    async def delete_list_if(self, list_id: str, version: int) -> bool:
        # The words go with the row (ON DELETE CASCADE; the engine turns SQLite's foreign keys on).
        statement = delete(word_lists).where(word_lists.c.id == list_id, word_lists.c.version == version)
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
        return result.rowcount == 1

    async def add_words_if(
        self, list_id: str, version: int, words: Sequence[ListWord], now: datetime
    ) -> WordsAdded | None:
        unique: dict[str, ListWord] = {}
        for word in words:
            unique.setdefault(word.key, word)  # the first of each key
        async with self._engine.begin() as connection:
            claimed = await _claim(connection, list_id, version)
            if claimed is None:
                return None
            present = await _present_keys(connection, list_id, list(unique))
            new = [word for key, word in unique.items() if key not in present]
            if not new:
                return WordsAdded(list=claimed, added=0)
            if claimed.word_count + len(new) > MAX_WORDS_PER_LIST:
                raise ListFull  # leaving the block rolls the claim back
            await connection.execute(
                insert(word_list_words),
                [{"list_id": list_id, "key": w.key, "headword": w.headword, "added_at": w.added_at} for w in new],
            )
            return WordsAdded(list=await _bump(connection, list_id, len(new), now), added=len(new))

    async def remove_word_if(self, list_id: str, version: int, key: str, now: datetime) -> WordRemoved | None:
        async with self._engine.begin() as connection:
            claimed = await _claim(connection, list_id, version)
            if claimed is None:
                return None
            result = await connection.execute(
                delete(word_list_words).where(word_list_words.c.list_id == list_id, word_list_words.c.key == key)
            )
            if result.rowcount != 1:
                return WordRemoved(list=claimed, removed=False)
            return WordRemoved(list=await _bump(connection, list_id, -1, now), removed=True)

    async def list_words(self, list_id: str, *, after: str | None, limit: int) -> list[ListWord]:
        query = (
            select(word_list_words.c.key, word_list_words.c.headword, word_list_words.c.added_at)
            .where(word_list_words.c.list_id == list_id)
            .order_by(word_list_words.c.key)
            .limit(limit)
        )
        if after is not None:
            query = query.where(word_list_words.c.key > after)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [ListWord(key=row.key, headword=row.headword, added_at=row.added_at) for row in rows]

    async def delete_lists_of(self, owner_id: str) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(word_lists).where(word_lists.c.owner_id == owner_id))
        return result.rowcount
