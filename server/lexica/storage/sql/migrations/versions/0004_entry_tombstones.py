"""Entry tombstones: the keys of entries deleted through the API, so that an import does not bring them back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lexica.storage.sql.tables import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entry_tombstones",
        sa.Column("key", sa.String(length=512).with_variant(sa.String(length=512, collation="C"), "postgresql")),
        sa.Column("deleted_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("entry_tombstones")
