"""Links: the headwords each entry names in cross-references and synonyms (`links`: [key, kind] pairs, see
lexica.words.links.stored_names), indexed so that the entries naming a headword are one indexed query.

SQLite: a table `entry_links` (named key, entry row id), kept in step with every insert, update and delete of an
entry by triggers that unpack the column's JSON array. PostgreSQL: a GIN index over the column as `jsonb`, which
answers `links::jsonb @> '[["key"]]'` (a pair holding the key). Rows stored before this revision get their links
here, from their content (a few seconds for all of GCIDE).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lexica.words.links import stored_names

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 2000

_SQLITE_INDEX = [
    "CREATE TABLE entry_links (target TEXT NOT NULL, entry_id INTEGER NOT NULL)",
    "CREATE INDEX ix_entry_links ON entry_links (target, entry_id)",
    "INSERT INTO entry_links (target, entry_id) "
    "SELECT DISTINCT json_extract(j.value, '$[0]'), e.id FROM entries AS e, json_each(e.links) AS j",
    "CREATE TRIGGER entries_links_insert AFTER INSERT ON entries BEGIN "
    "INSERT INTO entry_links (target, entry_id) "
    "SELECT DISTINCT json_extract(value, '$[0]'), new.id FROM json_each(new.links); END",
    "CREATE TRIGGER entries_links_delete AFTER DELETE ON entries BEGIN "
    "DELETE FROM entry_links WHERE entry_id = old.id; END",
    "CREATE TRIGGER entries_links_update AFTER UPDATE OF links ON entries BEGIN "
    "DELETE FROM entry_links WHERE entry_id = old.id; "
    "INSERT INTO entry_links (target, entry_id) "
    "SELECT DISTINCT json_extract(value, '$[0]'), new.id FROM json_each(new.links); END",
]
_POSTGRESQL_INDEX = ["CREATE INDEX ix_entries_links ON entries USING gin ((links::jsonb) jsonb_path_ops)"]


def _backfill(connection: sa.Connection) -> None:
    entries = sa.table(
        "entries",
        sa.column("id", sa.Integer()),
        sa.column("key", sa.Text()),
        sa.column("content", sa.Text()),
        sa.column("links", sa.Text()),
    )
    write = entries.update().where(entries.c.id == sa.bindparam("b_id")).values(links=sa.bindparam("b_links"))
    after = 0
    while True:
        page = sa.select(entries.c.id, entries.c.key, entries.c.content).where(entries.c.id > after)
        rows = connection.execute(page.order_by(entries.c.id).limit(BACKFILL_BATCH)).all()
        if not rows:
            return
        connection.execute(write, [{"b_id": row.id, "b_links": stored_names(row.content, row.key)} for row in rows])
        after = rows[-1].id


def upgrade() -> None:
    op.add_column("entries", sa.Column("links", sa.Text(), nullable=False, server_default="[]"))
    connection = op.get_bind()
    _backfill(connection)
    dialect = connection.dialect.name
    for statement in _SQLITE_INDEX if dialect == "sqlite" else _POSTGRESQL_INDEX if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("entries_links_insert", "entries_links_delete", "entries_links_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS entry_links")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_entries_links")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("links")
