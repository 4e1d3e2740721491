"""Fixtures for the words service's own tests: a database of GCIDE's letter X read through a repository that counts
reads and can hold them, the service over it, and a Redis of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.services import RedisServer
from lexica._generated.models import Definition, PartOfSpeechSection
from lexica.platform.pagination import CursorCodec
from lexica.storage.sql.database import create_engine
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.repository import HeadwordRow, StoredEntry
from lexica.words.service import WordService
from tests.conftest import TEST_SECRET, _client, letter_files, make_settings, seed
from tests.platform.private_redis import private_redis


class CountingRepository(SqlWordRepository):
    """Counts entry reads; while held, a read of an entry or a page waits after storage answered (so it returns what
    was stored then)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.reads = 0
        self.page_reads = 0
        self.waiting = 0  # reads held now
        self.failures = 0  # reads still to fail
        self._open = asyncio.Event()
        self._open.set()
        self._waiters = asyncio.Condition()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def held(self, reads: int) -> None:
        """Returns once this many reads wait (each has read what storage held then); fails after 5 s."""
        async with asyncio.timeout(5), self._waiters:
            await self._waiters.wait_for(lambda: self.waiting >= reads)

    async def _pause(self) -> None:
        async with self._waiters:
            self.waiting += 1
            self._waiters.notify_all()
        await self._open.wait()
        self.waiting -= 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("storage went away")

    async def get(self, key: str) -> StoredEntry | None:
        self.reads += 1
        stored = await super().get(key)
        await self._pause()
        return stored

    async def list_headwords(self, *, prefix: str, after: str | None, limit: int) -> list[HeadwordRow]:
        self.page_reads += 1
        rows = await super().list_headwords(prefix=prefix, after=after, limit=limit)
        await self._pause()
        return rows


def parts(text: str) -> list[PartOfSpeechSection]:
    """An entry's content: one part of speech with one definition."""
    definition = Definition(text=text, examples=[])
    section = PartOfSpeechSection(
        part_of_speech="a.", etymology=None, definitions=[definition], compounds=None, synonyms=None
    )
    return [section]


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'words.sqlite3'}"
    await seed(url, letter_files("X"))
    return url


@pytest.fixture
async def repository(database: str) -> AsyncIterator[CountingRepository]:
    engine = create_engine(database)
    try:
        yield CountingRepository(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def words(repository: CountingRepository) -> WordService:
    service = WordService(repository, CursorCodec(TEST_SECRET), cache_size=100, cache_ttl_seconds=60)
    await service.rebuild_index()
    return service


@pytest.fixture
def killable_redis() -> Iterator[RedisServer]:
    """A private Redis of the test's own, which it may kill and start again."""
    with private_redis() as server:
        yield server


ADMIN = ("editor-in-chief@lexica.test", "a long and private passphrase")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'edit.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]))
    async for client in _client(settings):
        yield client


async def token(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await api.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def editor(api: httpx.AsyncClient) -> dict[str, str]:
    return await token(api, *ADMIN)
