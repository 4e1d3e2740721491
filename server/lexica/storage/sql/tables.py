"""Table definitions (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func

metadata = MetaData()

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("headword", String(512), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("content_hash", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("weight", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
