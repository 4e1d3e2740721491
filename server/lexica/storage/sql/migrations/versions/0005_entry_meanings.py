"""Reverse lookup: each entry's definition terms (`meaning`, see lexica.words.meaning), indexed for full-text search.

SQLite: an FTS5 table over the column (external content, so the terms are stored once), kept in step with every
insert, update and delete of an entry by triggers. PostgreSQL: a GIN index over the terms' `simple` text-search
vector. Rows stored before this revision get their terms here, from their content (about 5 s for all of GCIDE).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lexica.words.meaning import meaning_text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 2000

_SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE entry_meanings USING fts5(meaning, content='entries', content_rowid='id', "
    "tokenize='unicode61')",
    "INSERT INTO entry_meanings(entry_meanings) VALUES ('rebuild')",
    "CREATE TRIGGER entries_meaning_insert AFTER INSERT ON entries BEGIN "
    "INSERT INTO entry_meanings(rowid, meaning) VALUES (new.id, new.meaning); END",
    "CREATE TRIGGER entries_meaning_delete AFTER DELETE ON entries BEGIN "
    "INSERT INTO entry_meanings(entry_meanings, rowid, meaning) VALUES ('delete', old.id, old.meaning); END",
    "CREATE TRIGGER entries_meaning_update AFTER UPDATE OF meaning ON entries BEGIN "
    "INSERT INTO entry_meanings(entry_meanings, rowid, meaning) VALUES ('delete', old.id, old.meaning); "
    "INSERT INTO entry_meanings(rowid, meaning) VALUES (new.id, new.meaning); END",
]
_POSTGRESQL_INDEX = ["CREATE INDEX ix_entries_meaning ON entries USING gin (to_tsvector('simple', meaning))"]


def _backfill(connection: sa.Connection) -> None:
    entries = sa.table(
        "entries", sa.column("id", sa.Integer()), sa.column("content", sa.Text()), sa.column("meaning", sa.Text())
    )
    write = entries.update().where(entries.c.id == sa.bindparam("b_id")).values(meaning=sa.bindparam("b_meaning"))
    after = 0
    while True:
        page = sa.select(entries.c.id, entries.c.content).where(entries.c.id > after).order_by(entries.c.id)
        rows = connection.execute(page.limit(BACKFILL_BATCH)).all()
        if not rows:
            return
        connection.execute(write, [{"b_id": row.id, "b_meaning": meaning_text(row.content)} for row in rows])
        after = rows[-1].id


def upgrade() -> None:
    op.add_column("entries", sa.Column("meaning", sa.Text(), nullable=False, server_default=""))
    connection = op.get_bind()
    _backfill(connection)
    dialect = connection.dialect.name
    for statement in _SQLITE_INDEX if dialect == "sqlite" else _POSTGRESQL_INDEX if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("entries_meaning_insert", "entries_meaning_delete", "entries_meaning_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS entry_meanings")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_entries_meaning")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("meaning")
