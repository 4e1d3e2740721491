"""Bulk import of entries into a `WordRepository`: batched, idempotent, with progress.

An import never overwrites an entry an editor created, replaced or patched since it was imported: such an entry
whose imported content would differ is skipped and reported (`skipped_edited`, the first headwords in `conflicts`),
unless `overwrite_edited` asks for the import to win. Entries whose content is unchanged are not written at all, so
their version and ETag stay as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lexica.words.repository import ImportSource, NewEntry, UpsertCounts, WordRepository

ProgressCallback = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class ImportResult:
    counts: UpsertCounts
    seconds: float


async def import_entries(
    repository: WordRepository,
    entries: Sequence[NewEntry],
    *,
    source: ImportSource = "gcide",
    overwrite_edited: bool = False,
    batch_size: int = 2000,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    started = time.perf_counter()
    counts = UpsertCounts()
    total = len(entries)
    for start in range(0, total, batch_size):
        batch = entries[start : start + batch_size]
        counts += await repository.upsert_many(batch, source=source, overwrite_edited=overwrite_edited)
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return ImportResult(counts=counts, seconds=time.perf_counter() - started)
