"""Reverse lookup, measured: recall@10 on query -> headword pairs built from the dictionary, and the latency of each
lookup over all definitions. `python -m bench.meaning_eval` runs it on the configured database (`make run`'s, with
GCIDE loaded); `make bench` runs it on SQLite and on PostgreSQL.

The pairs: entries are drawn at random (a fixed seed) among those with a definition of at least five content words
that does not name the headword. Two queries per entry, both from that definition:
- "description": its first five content words, as written ("one who makes barrels hogsheads");
- "fragment": three of its content words, drawn at random and shuffled — a vaguer memory of the meaning.
The definitions are in the index, so these are easier than a reader's own paraphrase: read the figures as an upper
bound of what a description in other words gets. No semantic (embedding) search is compared here: none is built.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass

from lexica.platform.pagination import CursorCodec
from lexica.settings import Settings
from lexica.storage.backends import open_storage
from lexica.words.meaning import STOP_WORDS, definitions_of, terms
from lexica.words.repository import WordRepository
from lexica.words.service import WordService

PAIRS = 400  # entries drawn; each gives one query of each kind
SEED = 7
RECALL_AT = 10
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Pair:
    kind: str  # "description" or "fragment"
    query: str
    headword: str


@dataclass(frozen=True)
class Outcome:
    kind: str
    pairs: int
    recall: float  # share of queries whose headword is among the first RECALL_AT hits
    mrr: float  # mean reciprocal rank (0 when not in the first RECALL_AT)


@dataclass(frozen=True)
class Measured:
    outcomes: list[Outcome]
    latencies_ms: list[float]

    def lines(self, where: str) -> list[str]:
        quantiles = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        found = [
            f"reverse lookup on {where}: {len(self.latencies_ms)} lookups over all definitions, "
            f"p50 {quantiles[49]:.1f} ms, p99 {quantiles[98]:.1f} ms"
        ]
        found += [
            f"  {outcome.kind:<11} recall@{RECALL_AT} {outcome.recall:.1%}  MRR {outcome.mrr:.3f}  "
            f"({outcome.pairs} query -> headword pairs)"
            for outcome in self.outcomes
        ]
        return found


def _content_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text) if word.lower() not in STOP_WORDS and len(word) > 1]


async def build_pairs(words: WordRepository) -> list[Pair]:
    """The query -> headword pairs, the same for the same data (see the module's docstring)."""
    usable: list[tuple[str, list[str]]] = []
    after = None
    while page := await words.entries_page(after=after, limit=5000):
        for entry in page:
            own = set(terms(entry.headword))
            for text in definitions_of(entry.content):
                content = _content_words(text)
                if len(content) >= 5 and not own & set(terms(text)):
                    usable.append((entry.headword, content))
                    break
        after = page[-1].key
    chooser = random.Random(SEED)  # noqa: S311 - a reproducible sample, not a secret
    pairs = []
    for headword, content in chooser.sample(usable, min(PAIRS, len(usable))):
        pairs.append(Pair("description", " ".join(content[:5]), headword))
        fragment = chooser.sample(content, 3)
        pairs.append(Pair("fragment", " ".join(fragment), headword))
    return pairs


async def measure(database_url: str) -> Measured:
    settings = Settings(database_url=database_url)
    async with open_storage(settings) as storage:
        service = WordService(storage.words, CursorCodec("meaning-eval"), cache_size=0, cache_ttl_seconds=1)
        pairs = await build_pairs(storage.words)
        await service.by_meaning("warm up", RECALL_AT)  # the corpus statistics are read once, as a server would
        ranks: dict[str, list[int | None]] = {}
        latencies = []
        for pair in pairs:
            began = time.perf_counter()
            hits = await service.by_meaning(pair.query, RECALL_AT)
            latencies.append((time.perf_counter() - began) * 1000)
            found = [hit.headword for hit in hits]
            ranks.setdefault(pair.kind, []).append(found.index(pair.headword) + 1 if pair.headword in found else None)
    outcomes = [
        Outcome(
            kind,
            len(found),
            sum(rank is not None for rank in found) / len(found),
            sum(1 / rank for rank in found if rank is not None) / len(found),
        )
        for kind, found in ranks.items()
    ]
    return Measured(outcomes, latencies)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.meaning_eval", description=__doc__)
    parser.add_argument("--database-url", help="default: LEXICA_DATABASE_URL, or the embedded SQLite file")
    args = parser.parse_args()
    url = args.database_url or Settings().database_url
    measured = asyncio.run(measure(url))
    print("\n".join(measured.lines(url.split(":", 1)[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
