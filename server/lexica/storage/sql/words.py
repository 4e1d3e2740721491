"""`WordRepository` on SQLAlchemy 2 async."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, case, cast, delete, false, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from lexica.storage.sql.sqlite_point_reads import SqlitePointReads
from lexica.storage.sql.tables import entries, entry_tombstones
from lexica.words.keys import prefix_upper_bound
from lexica.words.meaning import Candidate, Corpus
from lexica.words.repository import (
    INDEX_PAGE,
    HeadwordRow,
    ImportSource,
    IndexRow,
    NewEntry,
    Precondition,
    StoredEntry,
    UpsertCounts,
    tally,
)

_RETURNED = (
    entries.c.key,
    entries.c.headword,
    entries.c.version,
    entries.c.content_hash,
    entries.c.content,
    entries.c.source,
    entries.c.edited,
    entries.c.links,
)


def _stored(row: Row[*tuple[Any, ...]]) -> StoredEntry:
    m = row._mapping
    return StoredEntry(
        key=m["key"],
        headword=m["headword"],
        version=m["version"],
        content_hash=m["content_hash"],
        content=m["content"],
        source=m["source"],
        edited=bool(m["edited"]),
        links=m["links"],
    )


def _matches(key: str, precondition: Precondition) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [entries.c.key == key]
    if precondition.version is not None:
        clauses.append(entries.c.version == precondition.version)
    if precondition.hash_prefix is not None:
        clauses.append(
            func.substr(entries.c.content_hash, 1, len(precondition.hash_prefix)) == precondition.hash_prefix
        )
    return clauses


_LOOKUP_CHUNK = 500  # stays below SQLite's bound-parameter limit


def _insert_new(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(entries).on_conflict_do_nothing(index_elements=[entries.c.key])
    if dialect == "sqlite":
        return sqlite.insert(entries).on_conflict_do_nothing(index_elements=[entries.c.key])
    return insert(entries)


# Full-text matching of reverse lookup's terms by each engine, nothing stemmed or dropped (the terms already are):
# FTS5's table `entry_meanings` (unicode61 tokens), PostgreSQL's `simple` configuration over a GIN index (0005).
_MEANING_COUNT = {
    "sqlite": text("SELECT count(*) FROM entry_meanings WHERE entry_meanings MATCH :q"),
    "postgresql": text("SELECT count(*) FROM entries WHERE to_tsvector('simple', meaning) @@ to_tsquery('simple', :q)"),
}
_MEANING_CANDIDATES = {
    "sqlite": text(
        "SELECT e.key, e.headword, e.meaning FROM entry_meanings JOIN entries AS e ON e.id = entry_meanings.rowid "
        "WHERE entry_meanings MATCH :q"
    ),
    "postgresql": text(
        "SELECT key, headword, meaning FROM entries WHERE to_tsvector('simple', meaning) @@ to_tsquery('simple', :q)"
    ),
}


def _full_text_query(connection: AsyncConnection, terms: Sequence[str]) -> str:
    """Any of `terms` (letters only, see `lexica.words.meaning.terms`) in the engine's query syntax."""
    if connection.dialect.name == "sqlite":
        return " OR ".join(f'"{term}"' for term in terms)
    return " | ".join(terms)


class SqlWordRepository:
    def __init__(self, engine: AsyncEngine, *, point_reads: SqlitePointReads | None = None) -> None:
        """`point_reads`: reads of one entry by key on a SQLite file without the async engine (see its module)."""
        self._engine = engine
        self._point_reads = point_reads

    async def get(self, key: str) -> StoredEntry | None:
        if self._point_reads is not None:
            try:
                return self._point_reads.entry(key)
            except sqlite3.Error:
                pass  # the engine's path answers, or fails as it does for every other query
        query = select(*_RETURNED).where(entries.c.key == key)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _stored(row)

    async def headwords_of(self, keys: Sequence[str]) -> dict[str, str]:
        if self._point_reads is not None and keys:
            try:
                return self._point_reads.headwords_of(list(keys))
            except sqlite3.Error:
                pass  # the engine's path answers, as for `get`
        found: dict[str, str] = {}
        async with self._engine.connect() as connection:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = list(keys[start : start + _LOOKUP_CHUNK])
                rows = await connection.execute(
                    select(entries.c.key, entries.c.headword).where(entries.c.key.in_(chunk))
                )
                found.update({row.key: row.headword for row in rows})
        return found

    async def entries_page(self, *, after: str | None, limit: int) -> list[StoredEntry]:
        query = select(*_RETURNED).order_by(entries.c.key).limit(limit)
        if after is not None:
            query = query.where(entries.c.key > after)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_stored(row) for row in rows]

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
        found: list[IndexRow] = []
        query = select(entries.c.key, entries.c.headword, entries.c.weight).order_by(entries.c.key).limit(INDEX_PAGE)
        async with self._engine.connect() as connection:
            while True:
                after = query.where(entries.c.key > found[-1].key) if found else query
                page = (await connection.execute(after)).all()
                found += [IndexRow(key=row.key, headword=row.headword, weight=row.weight) for row in page]
                if len(page) < INDEX_PAGE:
                    return found

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(entries))).scalar_one())

    async def meaning_holding(self, terms: Sequence[str]) -> dict[str, int]:
        async with self._engine.connect() as connection:
            statement = _MEANING_COUNT[connection.dialect.name]
            return {
                term: int(
                    (await connection.execute(statement, {"q": _full_text_query(connection, [term])})).scalar_one()
                )
                for term in terms
            }

    async def meaning_candidates(self, terms: Sequence[str]) -> list[Candidate]:
        if not terms:
            return []
        async with self._engine.connect() as connection:
            statement = _MEANING_CANDIDATES[connection.dialect.name]
            rows = (await connection.execute(statement, {"q": _full_text_query(connection, terms)})).all()
        return [Candidate(key=row.key, headword=row.headword, meaning=row.meaning) for row in rows]

    async def meaning_corpus(self) -> Corpus:
        # Terms of an entry = its spaces + 1 (none when empty): a scan, which the service does once in a while.
        terms_of = func.length(entries.c.meaning) - func.length(func.replace(entries.c.meaning, " ", ""))
        terms_of = terms_of + case((entries.c.meaning == "", 0), else_=1)
        statement = select(func.count(), func.coalesce(func.avg(terms_of), 0.0))
        async with self._engine.connect() as connection:
            count, average = (await connection.execute(statement)).one()
        return Corpus(entries=int(count), average_terms=float(average))

    async def naming(self, key: str, *, after: str | None, limit: int) -> list[StoredEntry]:
        async with self._engine.connect() as connection:
            found: ColumnElement[bool]
            if connection.dialect.name == "sqlite":  # the table the triggers of revision 0006 keep
                named = select(text("entry_id")).select_from(text("entry_links")).where(text("target = :target"))
                found = entries.c.id.in_(named.params(target=key).scalar_subquery())
            else:  # `@>` over the array as jsonb: the GIN index of revision 0006 is on that expression
                found = cast(entries.c.links, postgresql.JSONB).contains([[key]])  # a [key, kind] pair holds key
            query = select(*_RETURNED).where(found).order_by(entries.c.key).limit(limit)
            if after is not None:
                query = query.where(entries.c.key > after)
            rows = (await connection.execute(query)).all()
        return [_stored(row) for row in rows]

    async def create(self, entry: NewEntry) -> StoredEntry | None:
        values = {
            "key": entry.key,
            "headword": entry.headword,
            "version": 1,
            "content_hash": entry.content_hash,
            "content": entry.content,
            "weight": entry.weight,
            "meaning": entry.meaning,
            "links": entry.links,
            "source": "api",
            "edited": True,
        }
        try:
            async with self._engine.begin() as connection:
                await connection.execute(delete(entry_tombstones).where(entry_tombstones.c.key == entry.key))
                await connection.execute(insert(entries).values(**values))
        except IntegrityError:
            return None
        return StoredEntry(
            entry.key, entry.headword, 1, entry.content_hash, entry.content, "api", edited=True, links=entry.links
        )

    async def replace_if(self, key: str, precondition: Precondition, entry: NewEntry) -> StoredEntry | None:
        statement = (
            update(entries)
            .where(*_matches(key, precondition))
            .values(
                headword=entry.headword,
                content=entry.content,
                content_hash=entry.content_hash,
                weight=entry.weight,
                meaning=entry.meaning,
                links=entry.links,
                version=entries.c.version + 1,
                updated_at=func.now(),
                edited=True,
            )
            .returning(*_RETURNED)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else _stored(row)

    async def delete_if(self, key: str, precondition: Precondition) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(entries).where(*_matches(key, precondition)))
            if result.rowcount != 1:
                return False
            # In the same transaction as the delete: an import never sees the entry gone without its tombstone.
            await connection.execute(delete(entry_tombstones).where(entry_tombstones.c.key == key))
            await connection.execute(insert(entry_tombstones).values(key=key, deleted_at=datetime.now(UTC)))
        return True

    async def upsert_many(
        self, batch: Sequence[NewEntry], *, source: ImportSource, overwrite_edited: bool = False
    ) -> UpsertCounts:
        if not batch:
            return UpsertCounts()
        keys = [entry.key for entry in batch]
        async with self._engine.begin() as connection:
            existing = await _states(connection, keys)
            absent = [entry for entry in batch if entry.key not in existing]
            buried = set() if overwrite_edited else await _tombstoned(connection, [e.key for e in absent])
            new = [entry for entry in absent if entry.key not in buried]
            differing = [e for e in batch if e.key in existing and existing[e.key][0] != e.content_hash]
            changed = [e for e in differing if overwrite_edited or not existing[e.key][1]]
            held = [e for e in absent if e.key in buried]
            held += [e for e in differing if not overwrite_edited and existing[e.key][1]]
            if new:
                # ON CONFLICT DO NOTHING: an editor or another import may insert a key between our read and this
                # insert; the row they wrote stays (it is checked below) instead of the batch failing on the key.
                await connection.execute(
                    _insert_new(connection.dialect.name),
                    [
                        {
                            "key": e.key,
                            "headword": e.headword,
                            "version": 1,
                            "content_hash": e.content_hash,
                            "content": e.content,
                            "weight": e.weight,
                            "meaning": e.meaning,
                            "links": e.links,
                            "source": source,
                            "edited": False,
                        }
                        for e in new
                    ],
                )
                if overwrite_edited:
                    await _exhume(connection, [e.key for e in new])
                else:
                    # An entry deleted while this batch ran (its tombstone committed after our read) is taken out
                    # again; at READ COMMITTED this statement sees every delete that our insert waited for.
                    reburied = await _rebury(connection, new, source)
                    held += [e for e in new if e.key in reburied]
                    new = [e for e in new if e.key not in reburied]
            if changed:
                # One conditional statement per row: the hash test, the edited test and the version bump are a
                # single write, so an edit committed after our read is never overwritten.
                statement = (
                    update(entries)
                    .where(entries.c.key == bindparam("b_key"))
                    .where(entries.c.content_hash != bindparam("b_hash"))
                    .values(
                        headword=bindparam("b_headword"),
                        content=bindparam("b_content"),
                        content_hash=bindparam("b_hash"),
                        weight=bindparam("b_weight"),
                        meaning=bindparam("b_meaning"),
                        links=bindparam("b_links"),
                        version=entries.c.version + 1,
                        updated_at=func.now(),
                        source=source,
                        edited=False,
                    )
                )
                if not overwrite_edited:
                    statement = statement.where(entries.c.edited == false())
                await connection.execute(
                    statement,
                    [
                        {
                            "b_key": e.key,
                            "b_hash": e.content_hash,
                            "b_headword": e.headword,
                            "b_content": e.content,
                            "b_weight": e.weight,
                            "b_meaning": e.meaning,
                            "b_links": e.links,
                        }
                        for e in changed
                    ],
                )
            # What the conditional writes did not write (an editor got there first) is read back, to be reported.
            after = await _states(connection, [e.key for e in new + changed]) if new or changed else {}
        return tally(batch, new=new, changed=changed, held=held, after=after)


async def _tombstoned(connection: AsyncConnection, keys: Sequence[str]) -> set[str]:
    """Those of `keys` whose entries were deleted through the API."""
    found: set[str] = set()
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = list(keys[start : start + _LOOKUP_CHUNK])
        rows = await connection.execute(select(entry_tombstones.c.key).where(entry_tombstones.c.key.in_(chunk)))
        found.update(row.key for row in rows)
    return found


async def _exhume(connection: AsyncConnection, keys: Sequence[str]) -> None:
    """Forget the deletion of `keys`: an import told to overwrite edited entries brought them back."""
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = list(keys[start : start + _LOOKUP_CHUNK])
        await connection.execute(delete(entry_tombstones).where(entry_tombstones.c.key.in_(chunk)))


async def _rebury(connection: AsyncConnection, inserted: Sequence[NewEntry], source: ImportSource) -> set[str]:
    """Delete again the rows this import just inserted whose key has a tombstone; the keys it deleted."""
    keys = [e.key for e in inserted]
    buried = await _tombstoned(connection, keys)
    if not buried:
        return set()
    hashes = {e.key: e.content_hash for e in inserted if e.key in buried}
    # Only our own insert: version 1, our content, our source, not edited (anything else is someone else's row).
    statement = (
        delete(entries)
        .where(entries.c.key == bindparam("b_key"))
        .where(entries.c.content_hash == bindparam("b_hash"))
        .where(entries.c.version == 1)
        .where(entries.c.source == source)
        .where(entries.c.edited == false())
    )
    await connection.execute(statement, [{"b_key": key, "b_hash": digest} for key, digest in hashes.items()])
    return set(hashes) - set(await _states(connection, list(hashes)))


async def _states(connection: AsyncConnection, keys: Sequence[str]) -> dict[str, tuple[str, bool]]:
    """Key -> (content hash, edited) of those of `keys` that are stored."""
    found: dict[str, tuple[str, bool]] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = list(keys[start : start + _LOOKUP_CHUNK])
        rows = await connection.execute(
            select(entries.c.key, entries.c.content_hash, entries.c.edited).where(entries.c.key.in_(chunk))
        )
        found.update({row.key: (row.content_hash, bool(row.edited)) for row in rows})
    return found
