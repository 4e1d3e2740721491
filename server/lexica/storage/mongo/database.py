"""The MongoDB client: created from settings, indexes ensured at start-up, closed on shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
Database = AsyncDatabase[Document]

DEFAULT_DATABASE = "lexica"
SERVER_SELECTION_TIMEOUT_MS = 5_000  # how long an operation waits for a reachable server before failing (503)
CONNECT_TIMEOUT_MS = 5_000
SOCKET_TIMEOUT_MS = 60_000  # one reply; the largest is an import batch of a few thousand entries

# Collections; `entry_tombstones` holds the keys (as `_id`) of entries deleted through the API, so that imports
# do not bring them back; `counters` numbers audit events and `guards` holds the admin guard (see auth.py).
ENTRIES, ENTRY_TOMBSTONES, WORD_LISTS = "entries", "entry_tombstones", "word_lists"
USERS, REFRESH_TOKENS, API_KEYS, AUDIT_EVENTS = "users", "refresh_tokens", "api_keys", "audit_events"
COUNTERS, GUARDS = "counters", "guards"
ADMINS_GUARD = "admins"


def written_time(value: datetime | str) -> datetime:
    """A datetime that an update's `$set` wrote: a BSON date on MongoDB; nx-27017 stores it as text (UTC)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value).replace(tzinfo=UTC)


def create_client(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout_seconds: float = 30.0,
    event_listeners: Sequence[monitoring.CommandListener] = (),
) -> AsyncMongoClient[Document]:
    """A client bound to the running event loop; nothing connects until the first operation.

    The pool holds up to `pool_size + max_overflow` connections, as the SQL engine's does. retryReads and
    retryWrites keep PyMongo's defaults (on): a read or write that fails on a network error or a primary failover
    is retried once, and a retried write carries the same transaction number, so the server applies it at most once
    (replica sets and sharded clusters; a standalone server does not retry writes).
    """
    return AsyncMongoClient(
        url,
        tz_aware=True,
        tzinfo=UTC,
        maxPoolSize=pool_size + max_overflow,
        waitQueueTimeoutMS=int(pool_timeout_seconds * 1000),
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        connectTimeoutMS=CONNECT_TIMEOUT_MS,
        socketTimeoutMS=SOCKET_TIMEOUT_MS,
        appname="lexica",
        event_listeners=list(event_listeners),  # a span per command when tracing is on (command_spans.py)
    )


def default_database(client: AsyncMongoClient[Document]) -> Database:
    """The database named in the URL's path (`mongodb://host/<name>`), else "lexica"."""
    return client.get_default_database(DEFAULT_DATABASE)


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")


async def ensure_indexes(database: Database) -> None:
    """Create the indexes and the admin guard document the adapters rely on; idempotent, safe to run concurrently."""
    await database[ENTRIES].create_indexes(
        [
            IndexModel([("key", ASCENDING)], name="key_unique", unique=True),
            # Reverse lookup (lexica.words.meaning): which entries hold a term (see words._meaning).
            IndexModel([("meaning_words", ASCENDING)], name="meaning_words"),
            # Links (lexica.words.links): which entries name a headword.
            IndexModel([("links", ASCENDING)], name="links"),
        ]
    )
    await database[USERS].create_indexes([IndexModel([("email", ASCENDING)], name="email_unique", unique=True)])
    await database[REFRESH_TOKENS].create_indexes(
        [
            IndexModel([("family_id", ASCENDING)], name="by_family"),
            IndexModel([("user_id", ASCENDING)], name="by_user"),
        ]
    )
    await database[API_KEYS].create_indexes(
        [
            IndexModel([("prefix", ASCENDING)], name="prefix_unique", unique=True),
            # Not (user_id, created_at, _id), which would serve the sort whole: nx-27017 rejects writes to a
            # collection with `_id` in a compound index. One user's keys are few; ties sort in memory.
            IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="by_user"),
        ]
    )
    await database[AUDIT_EVENTS].create_indexes(
        [
            IndexModel([("actor_id", ASCENDING)], name="by_actor"),
            IndexModel([("subject_id", ASCENDING)], name="by_subject"),
        ]
    )
    await database[WORD_LISTS].create_indexes([IndexModel([("owner_id", ASCENDING)], name="by_owner")])
    # An empty guard: every admin made through the adapter is counted in it from then on (see auth.py).
    with suppress(DuplicateKeyError):
        await database[GUARDS].insert_one({"_id": ADMINS_GUARD, "ids": [], "count": 0})
