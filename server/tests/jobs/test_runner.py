"""An import job tells every instance once that the dictionary changed (`dictionary.changed`), also when it fails after
some of its batches were written: those entries are stored, and the instances' caches and indexes must learn of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from lexica.jobs.records import JobRecord, Limits
from lexica.jobs.runner import BATCH_SIZE, IMPORT_STAGES, run_job, upload_blob
from lexica.jobs.wiring import build_blob_store, open_job_store
from lexica.platform.events import Event, MemoryEventBus
from lexica.platform.pagination import CursorCodec
from lexica.state import build_services
from lexica.storage.backends import open_storage
from lexica.storage.sql.database import create_engine
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.repository import ImportSource, NewEntry, UpsertCounts
from lexica.words.service import DICTIONARY_TOPIC
from tests.conftest import TEST_SECRET, letter_files, make_settings, seed


class FailsOnSecondBatch(SqlWordRepository):
    """Writes the first import batch, then fails as a database that went away would."""

    batches = 0

    async def upsert_many(
        self, entries: Sequence[NewEntry], *, source: ImportSource, overwrite_edited: bool = False
    ) -> UpsertCounts:
        self.batches += 1
        if self.batches > 1:
            raise ConnectionError("database went away")
        return await super().upsert_many(entries, source=source, overwrite_edited=overwrite_edited)


def upload(count: int) -> bytes:
    section = {"part_of_speech": "n.", "etymology": None, "definitions": [{"text": "t", "examples": []}]}
    lines = (
        json.dumps(
            {"headword": f"zzrunner{n:05d}", "parts_of_speech": [{**section, "compounds": None, "synonyms": None}]}
        )
        for n in range(count)
    )
    return "\n".join(lines).encode() + b"\n"


async def dictionary_events(bus: MemoryEventBus) -> list[Event]:
    events: list[Event] = []
    follower = bus.follow(DICTIONARY_TOPIC, after=None)
    try:
        async with asyncio.timeout(0.2):
            async for event in follower:
                events.append(event)
    except TimeoutError:
        pass
    return events


async def test_an_import_that_fails_after_writing_a_batch_still_announces_the_change(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runner.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(url, job_files_dir=tmp_path / "jobs")
    bus = MemoryEventBus()
    engine = create_engine(url)
    async with open_storage(settings) as storage:
        try:
            blobs = build_blob_store(settings)
            jobs = await open_job_store(settings, None)
            services = build_services(settings, storage, CursorCodec(TEST_SECRET), bus, jobs, blobs)
            context = replace(services.job_context, words=FailsOnSecondBatch(engine))
            job = JobRecord(
                id="a" * 32, owner_id="owner", kind="import", params={"source": "upload"}, stages=IMPORT_STAGES
            )
            assert await jobs.admit(job, Limits(running=1, per_hour=10)) is None
            await blobs.append(upload_blob(job.owner_id, job.id), upload(BATCH_SIZE + 10))

            await run_job(context, job.id)
        finally:
            await engine.dispose()

        finished = await jobs.get(job.id)
        assert finished is not None
        assert finished.state == "failed"
        assert await storage.words.get("zzrunner00000") is not None  # the first batch was written
        assert [event.payload for event in await dictionary_events(bus)] == [{"job_id": job.id}]
