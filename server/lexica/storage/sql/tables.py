"""Table definitions (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    func,
)
from sqlalchemy.engine import Dialect

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone, so store UTC there and re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Code-point order on every backend (SQLite compares bytes; PostgreSQL's default collation does not),
    # so listings and keyset pagination agree everywhere.
    Column("key", String(512).with_variant(String(512, collation="C"), "postgresql"), nullable=False, unique=True),
    Column("headword", String(512), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("content_hash", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("weight", Integer, nullable=False, default=0),
    # The terms of its definitions, for reverse lookup (lexica.words.meaning), indexed by the engine's full-text
    # search: FTS5's `entry_meanings` (SQLite, kept in step by triggers) or a GIN index (PostgreSQL); revision 0005.
    Column("meaning", Text, nullable=False, server_default=""),
    # The headwords it names in cross-references and synonyms, as a JSON array of [lookup key, kind] pairs in the
    # order it names them (lexica.words.links.stored_names), indexed for "which entries name X": by `entry_links`
    # (SQLite, kept in step by triggers) or a GIN index over the array as jsonb (PostgreSQL); revision 0006.
    Column("links", Text, nullable=False, server_default="[]"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Provenance: "gcide" / "upload" (imports) or "api" (created by an editor); `edited` once an editor created,
    # replaced or patched it since it was last imported. Imports skip edited entries unless told to overwrite.
    Column("source", String(16), nullable=False, server_default="gcide"),
    Column("edited", Boolean, nullable=False, server_default=false()),
)

# Keys of entries deleted through the API: an import does not bring them back (unless told to overwrite edited
# entries); creating the entry through the API again removes the tombstone.
entry_tombstones = Table(
    "entry_tombstones",
    metadata,
    Column("key", String(512).with_variant(String(512, collation="C"), "postgresql"), primary_key=True),
    Column("deleted_at", UtcDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("display_name", String(100), nullable=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("totp_secret", Text, nullable=True),
    Column("totp_confirmed", Boolean, nullable=False, default=False),
    Column("totp_last_step", BigInteger, nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(36), nullable=False, index=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False, default=lambda: datetime.now(UTC)),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("action", String(40), nullable=False),
    Column("actor_id", String(36), nullable=True, index=True),
    Column("subject_id", String(36), nullable=True, index=True),
    Column("client_ip", String(64), nullable=True),
    Column("detail", Text, nullable=True),
)

word_lists = Table(
    "word_lists",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    Column("public", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("word_count", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

word_list_words = Table(
    "word_list_words",
    metadata,
    Column("list_id", String(32), ForeignKey("word_lists.id", ondelete="CASCADE"), primary_key=True),
    # Code-point order on every backend, as entries.key: a list's words are listed and paged by key.
    Column("key", String(512).with_variant(String(512, collation="C"), "postgresql"), primary_key=True),
    Column("headword", String(512), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
)


# Engine-specific index structures, made by a revision for one engine each and not declared above. Reverse lookup
# (0005): FTS5's table `entry_meanings` with its shadow tables (SQLite), the GIN index `ix_entries_meaning`
# (PostgreSQL). Links (0006): the table `entry_links` and its index (SQLite), the GIN index `ix_entries_links`.
FULL_TEXT_OBJECTS = ("entry_meanings", "ix_entries_meaning", "entry_links", "ix_entry_links", "ix_entries_links")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's comparison filter (autogenerate, the migration tests): everything but `FULL_TEXT_OBJECTS`."""
    return name is None or not name.startswith(FULL_TEXT_OBJECTS)
