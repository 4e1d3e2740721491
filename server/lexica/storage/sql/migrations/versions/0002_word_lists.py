"""Word lists: a user's named lists of entry keys, and their words.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:50:51.400888
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lexica.storage.sql.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "word_lists",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("created_at", lexica.storage.sql.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lexica.storage.sql.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("word_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_word_lists_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "word_list_words",
        sa.Column("list_id", sa.String(length=32), nullable=False),
        sa.Column(
            "key",
            sa.String(length=512).with_variant(sa.String(length=512, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("headword", sa.String(length=512), nullable=False),
        sa.Column("added_at", lexica.storage.sql.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["word_lists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("list_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("word_list_words")
    with op.batch_alter_table("word_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_word_lists_owner_id"))

    op.drop_table("word_lists")
