"""Schemathesis, all checks, positive and negative data, against the app in-process on real GCIDE data."""

from __future__ import annotations

import asyncio
import atexit
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from lexica.app import create_app
from lexica.settings import Settings
from lexica.storage.sql.database import create_engine, create_schema
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import import_entries


async def _seed_letter_a(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        files = [path for path in gcide_files() if path.name == "words_A.json"]
        await import_entries(SqlWordRepository(engine), read_entries(files, SourceReport()))
    finally:
        await engine.dispose()


def _load_schema() -> OpenApiSchema:
    # Loaded at import: schemathesis parametrizes at collection time (its lazy fixture loader does not
    # support pytest 9.2). The database lives in a temporary directory removed at interpreter exit.
    directory = tempfile.TemporaryDirectory(prefix="lexica-schemathesis-")
    atexit.register(directory.cleanup)
    url = f"sqlite+aiosqlite:///{Path(directory.name) / 'lexica.sqlite3'}"
    asyncio.run(_seed_letter_a(url))
    settings = Settings(database_url=url, environment="test", tune_gc=False, secret_key="s" * 48)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


schema = _load_schema()


@schema.parametrize()
def test_api_conforms_to_its_spec(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()
