"""Bulk import of entries into a `WordRepository`: batched, idempotent, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lexica.words.repository import NewEntry, UpsertCounts, WordRepository

ProgressCallback = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class ImportResult:
    counts: UpsertCounts
    seconds: float


async def import_entries(
    repository: WordRepository,
    entries: Sequence[NewEntry],
    *,
    batch_size: int = 2000,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    started = time.perf_counter()
    counts = UpsertCounts()
    total = len(entries)
    for start in range(0, total, batch_size):
        batch = entries[start : start + batch_size]
        counts += await repository.upsert_many(batch)
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return ImportResult(counts=counts, seconds=time.perf_counter() - started)
