"""`WordRepository` on SQLAlchemy 2 async."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.storage.sql.tables import entries
from lexica.words.keys import prefix_upper_bound
from lexica.words.repository import HeadwordRow, IndexRow, NewEntry, StoredEntry, UpsertCounts

_LOOKUP_CHUNK = 500  # stays below SQLite's bound-parameter limit


class SqlWordRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, key: str) -> StoredEntry | None:
        query = select(
            entries.c.key, entries.c.headword, entries.c.version, entries.c.content_hash, entries.c.content
        ).where(entries.c.key == key)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return StoredEntry(
            key=row.key,
            headword=row.headword,
            version=row.version,
            content_hash=row.content_hash,
            content=row.content,
        )

    async def list_headwords(self, *, prefix: str, after: str | None, limit: int) -> list[HeadwordRow]:
        query = select(entries.c.key, entries.c.headword).order_by(entries.c.key).limit(limit)
        if prefix:
            query = query.where(entries.c.key >= prefix)
            upper = prefix_upper_bound(prefix)
            if upper is not None:
                query = query.where(entries.c.key < upper)
        if after is not None:
            query = query.where(entries.c.key > after)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [HeadwordRow(key=row.key, headword=row.headword) for row in rows]

    async def index_rows(self) -> list[IndexRow]:
        query = select(entries.c.key, entries.c.headword, entries.c.weight).order_by(entries.c.key)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [IndexRow(key=row.key, headword=row.headword, weight=row.weight) for row in rows]

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(entries))).scalar_one())

    async def upsert_many(self, batch: Sequence[NewEntry]) -> UpsertCounts:
        if not batch:
            return UpsertCounts()
        async with self._engine.begin() as connection:
            existing: dict[str, str] = {}
            keys = [entry.key for entry in batch]
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                rows = await connection.execute(
                    select(entries.c.key, entries.c.content_hash).where(entries.c.key.in_(chunk))
                )
                existing.update({row.key: row.content_hash for row in rows})
            new = [entry for entry in batch if entry.key not in existing]
            changed = [entry for entry in batch if entry.key in existing and existing[entry.key] != entry.content_hash]
            if new:
                await connection.execute(
                    insert(entries),
                    [
                        {
                            "key": e.key,
                            "headword": e.headword,
                            "version": 1,
                            "content_hash": e.content_hash,
                            "content": e.content,
                            "weight": e.weight,
                        }
                        for e in new
                    ],
                )
            if changed:
                # One conditional statement per row: the hash test and the version bump are a single write.
                statement = (
                    update(entries)
                    .where(entries.c.key == bindparam("b_key"))
                    .where(entries.c.content_hash != bindparam("b_hash"))
                    .values(
                        headword=bindparam("b_headword"),
                        content=bindparam("b_content"),
                        content_hash=bindparam("b_hash"),
                        weight=bindparam("b_weight"),
                        version=entries.c.version + 1,
                        updated_at=func.now(),
                    )
                )
                await connection.execute(
                    statement,
                    [
                        {
                            "b_key": e.key,
                            "b_hash": e.content_hash,
                            "b_headword": e.headword,
                            "b_content": e.content,
                            "b_weight": e.weight,
                        }
                        for e in changed
                    ],
                )
        return UpsertCounts(inserted=len(new), updated=len(changed), unchanged=len(batch) - len(new) - len(changed))
