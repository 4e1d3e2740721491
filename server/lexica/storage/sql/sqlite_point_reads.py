"""Entry reads by key from a SQLite file, on the event loop's own thread, without SQLAlchemy or aiosqlite.

Through SQLAlchemy's async engine a read of one entry from SQLite is three hand-offs to aiosqlite's thread
(check out and begin, execute, roll back and check in): ~2 ms on this project's two-core machine under load, for a
lookup SQLite itself answers in ~10 µs from its page cache. A lookup that misses the entry cache is the path that
read serves, so on a SQLite file that read goes through one `sqlite3` connection of its own, opened read-only
(`mode=ro`), in WAL mode (set by the engine), where a reader sees the last committed write and never waits for a
writer. The entry's links are read the same way (`headwords_of`, a few keys at a time). The call blocks the event
loop for as long as the indexed lookup takes — microseconds from the page cache, a disk read when the page is
cold — which is cheaper here than any hand-off to a thread.

Anything unusual (the file not there yet, a busy database, a call from another thread) raises `sqlite3.Error`,
and the caller takes the SQLAlchemy path, which has its own error handling. In-memory and URI databases always
take that path. Hand-written because no maintained library offers a synchronous read beside an async engine.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL

from lexica.words.repository import StoredEntry

_ENTRY_BY_KEY = "SELECT key, headword, version, content_hash, content, source, edited, links FROM entries WHERE key = ?"
_HEADWORDS_OF_KEYS = "SELECT key, headword FROM entries WHERE key IN (SELECT value FROM json_each(?))"
MAX_KEYS = 500  # keys one `headwords_of` reads (an entry names at most 200)
BUSY_MILLISECONDS = 50  # a reader in WAL mode waits only while the database recovers: rare, and never long


class SqlitePointReads:
    """A read-only connection to one SQLite file for reads of one row by key."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def for_url(cls, url: URL) -> SqlitePointReads | None:
        """For a SQLite file URL; None for any other database (and for in-memory or URI SQLite databases)."""
        database = url.database
        if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(Path(database).expanduser())

    def entry(self, key: str) -> StoredEntry | None:
        """The stored entry under `key`, or None; raises `sqlite3.Error` when this connection cannot answer."""
        row = self._open().execute(_ENTRY_BY_KEY, (key,)).fetchone()
        if row is None:
            return None
        key, headword, version, content_hash, content, source, edited, links = row
        return StoredEntry(
            key=key,
            headword=headword,
            version=version,
            content_hash=content_hash,
            content=content,
            source=source,
            edited=bool(edited),
            links=links,
        )

    def headwords_of(self, keys: list[str]) -> dict[str, str]:
        """Key -> headword for those of `keys` (at most `MAX_KEYS`) that exist: the names an entry links to, looked
        up with it (`lexica.words.related`); raises `sqlite3.Error` when this connection cannot answer."""
        if len(keys) > MAX_KEYS:
            raise sqlite3.OperationalError(f"more than {MAX_KEYS} keys")
        return dict(self._open().execute(_HEADWORDS_OF_KEYS, (json.dumps(keys),)).fetchall())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            if not self._path.exists():
                raise sqlite3.OperationalError(f"{self._path} does not exist yet")
            # `mode=ro`: this connection can never write, whatever calls it. Autocommit (isolation_level=None): each
            # SELECT is its own read transaction, so the next one sees every write committed before it.
            connection = sqlite3.connect(
                f"{self._path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, cached_statements=16
            )
            connection.execute(f"PRAGMA busy_timeout={BUSY_MILLISECONDS}")
            self._connection = connection
        return self._connection
