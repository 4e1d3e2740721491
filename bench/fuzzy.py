"""Fuzzy search over every headword, in process: the latency of `SearchIndex.search(mode="fuzzy")` alone.

The queries are headwords with one typing error each (a letter dropped, doubled, replaced or swapped with the next),
chosen and altered by a seeded generator, so every run asks the same questions. Each is timed on its own with
`perf_counter_ns`; the median and the 99th percentile are what `make bench` prints.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lexica.words.repository import IndexRow
from lexica.words.search_index import SearchIndex

QUERIES = 1000
SEED = 7
LIMIT = 10


@dataclass(frozen=True)
class FuzzyLatency:
    queries: int
    p50_ms: float
    p99_ms: float
    found: int  # queries whose intended headword was among the hits

    def line(self) -> str:
        return (
            f"fuzzy search in process over every headword: p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms "
            f"({self.queries:,} misspelt headwords; the intended one among the first {LIMIT} for {self.found:,})"
        )


def misspelt(word: str, chooser: random.Random) -> str:
    """`word` with one typing error."""
    at = chooser.randrange(len(word) - 1)
    kind = chooser.choice(("drop", "double", "replace", "swap"))
    if kind == "drop":
        return word[:at] + word[at + 1 :]
    if kind == "double":
        return word[:at] + word[at] + word[at:]
    if kind == "replace":
        return word[:at] + chooser.choice(string.ascii_lowercase) + word[at + 1 :]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def measure(rows: Sequence[IndexRow], queries: int = QUERIES) -> FuzzyLatency:
    index = SearchIndex(rows)
    chooser = random.Random(SEED)  # noqa: S311 - a reproducible choice, not a secret
    words = sorted(row.key for row in rows if row.key.isascii() and row.key.isalpha() and len(row.key) >= 4)
    asked = [(word, misspelt(word, chooser)) for word in chooser.sample(words, queries)]
    timings: list[int] = []
    found = 0
    for word, query in asked:
        started = time.perf_counter_ns()
        hits = index.search(query, "fuzzy", LIMIT)
        timings.append(time.perf_counter_ns() - started)
        found += any(hit.key == word for hit in hits)
    timings.sort()
    return FuzzyLatency(
        queries, timings[len(timings) // 2] / 1e6, timings[min(len(timings) - 1, len(timings) * 99 // 100)] / 1e6, found
    )
