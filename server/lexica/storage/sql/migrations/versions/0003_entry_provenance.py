"""Entry provenance: where each entry came from (`source`) and whether an editor changed it since (`edited`).

Imports skip edited entries unless told to overwrite them. Rows stored before this revision have no record of
either: they are taken as imported from GCIDE, and as edited when their version is above 1 (an editor's write, or
an import that changed them; the conservative reading keeps an editor's work, and `--overwrite-edited` undoes it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="gcide"))
        batch_op.add_column(sa.Column("edited", sa.Boolean(), nullable=False, server_default=sa.false()))
    entries = sa.table("entries", sa.column("version", sa.Integer()), sa.column("edited", sa.Boolean()))
    op.execute(entries.update().where(entries.c.version > 1).values(edited=True))


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("edited")
        batch_op.drop_column("source")
