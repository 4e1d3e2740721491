"""Alembic environment: runs on the connection that `lexica.storage.sql.database.upgrade_schema` passes in."""

from __future__ import annotations

from alembic import context

from lexica.storage.sql.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `lexica db upgrade` (it supplies the database connection)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
