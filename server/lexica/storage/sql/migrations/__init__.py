"""Alembic migrations of the SQL schema (applied at start-up and by `lexica db upgrade`)."""
