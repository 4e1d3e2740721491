"""In-process search over every headword: exact, prefix (sorted keys + bisect) and fuzzy (rapidfuzz).

Built once at start-up from the repository (~108k keys: about a second, ~30 MB) and kept in memory, so a
search never touches storage.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import process
from rapidfuzz.distance import OSA

from lexica.words.frequency import commonness
from lexica.words.keys import lookup_key, prefix_upper_bound
from lexica.words.repository import IndexRow


class Method(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    FUZZY = "fuzzy"
    MEANING = "meaning"  # reverse lookup over definitions (lexica.words.meaning), not this index


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    headword: str
    score: float
    method: Method
    snippet: str | None = None  # the definition that matched (reverse lookup only)


_FUZZY_CANDIDATES = 200
_FUZZY_MAX_DISTANCE = 3


def _squeeze(text: str) -> str:
    """Collapse doubled letters: the commonest misspelling is a missing or extra double ("aple", "appple")."""
    out: list[str] = []
    for char in text:
        if not out or out[-1] != char:
            out.append(char)
    return "".join(out)


class SearchIndex:
    def __init__(self, rows: Sequence[IndexRow]) -> None:
        ordered = sorted(rows, key=lambda row: row.key)
        self._keys = [row.key for row in ordered]
        self._headwords = {row.key: row.headword for row in ordered}
        self._weights = {row.key: row.weight for row in ordered}
        self._max_log_weight = max((math.log1p(row.weight) for row in ordered), default=1.0) or 1.0
        # How common each headword is in English, for the keys the frequency list has (a quarter of them).
        self._commonness = {key: share for key in self._keys if (share := commonness(key))}
        # (position 0 or 1, character, key length) -> keys: a fuzzy match within the allowed distance
        # almost always keeps one of the query's first two characters in one of the first two positions.
        self._buckets: dict[tuple[int, str, int], list[str]] = {}
        for key in self._keys:
            for position, char in enumerate(key[:2]):
                self._buckets.setdefault((position, char, len(key)), []).append(key)

    def add(self, row: IndexRow) -> None:
        """Index a new or renamed entry (the editing path; start-up builds the index in bulk)."""
        if row.key not in self._headwords:
            insort(self._keys, row.key)
            for position, char in enumerate(row.key[:2]):
                self._buckets.setdefault((position, char, len(row.key)), []).append(row.key)
        self._headwords[row.key] = row.headword
        self._weights[row.key] = row.weight
        if share := commonness(row.key):
            self._commonness[row.key] = share

    def remove(self, key: str) -> None:
        if key not in self._headwords:
            return
        index = bisect_left(self._keys, key)
        del self._keys[index]
        for position, char in enumerate(key[:2]):
            self._buckets[(position, char, len(key))].remove(key)
        del self._headwords[key]
        del self._weights[key]
        self._commonness.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)

    def headwords_of(self, keys: Iterable[str]) -> dict[str, str]:
        """Key -> headword for those of `keys` that are indexed."""
        headwords = self._headwords
        return {key: headword for key in keys if (headword := headwords.get(key)) is not None}

    def heaviest(self, count: int) -> list[str]:
        """The keys of the `count` entries with the most definitions, most first (ties in key order)."""
        return heapq.nsmallest(count, self._keys, key=lambda key: -self._weights[key])

    def _popularity(self, key: str) -> float:
        """0..1: how common the word is in English, and, a little, how many senses its entry has (the commoner words
        have more): `their` before `thider`, `receive` before `reprieve`."""
        senses = math.log1p(self._weights.get(key, 0)) / self._max_log_weight
        return 0.75 * self._commonness.get(key, 0.0) + 0.25 * senses

    def _hit(self, key: str, score: float, method: Method) -> Hit:
        return Hit(key=key, headword=self._headwords[key], score=round(min(max(score, 0.0), 1.0), 4), method=method)

    def exact(self, query: str) -> list[Hit]:
        key = lookup_key(query)
        return [self._hit(key, 1.0, Method.EXACT)] if key in self._headwords else []

    def prefix(self, query: str, limit: int) -> list[Hit]:
        """Completions, shorter and commoner first; the exact key itself is not a completion."""
        key = lookup_key(query)
        if not key:
            return []
        start = bisect_left(self._keys, key)
        upper = prefix_upper_bound(key)
        end = bisect_left(self._keys, upper) if upper is not None else len(self._keys)
        scored = (
            (0.6 + 0.3 * (len(key) / len(k)) + 0.05 * self._popularity(k), k) for k in self._keys[start:end] if k != key
        )
        best = heapq.nsmallest(limit, scored, key=lambda pair: (-pair[0], pair[1]))
        return [self._hit(k, score, Method.PREFIX) for score, k in best]

    def _fuzzy_candidates(self, key: str, max_distance: int) -> list[str]:
        """Keys that share a leading character position with `key` and whose length is within reach; a key may
        come twice (from two buckets): cheaper to let the scorer see it twice than to deduplicate ~20k keys."""
        found: list[str] = []
        lengths = range(len(key) - max_distance, len(key) + max_distance + 1)
        buckets = self._buckets
        for char in set(key[:2]):
            for position in (0, 1):
                for length in lengths:
                    found.extend(buckets.get((position, char, length), ()))
        return found

    def fuzzy(self, query: str, limit: int) -> list[Hit]:
        """Close spellings by optimal-string-alignment distance, reranked for likely typos and commonness."""
        key = lookup_key(query)
        if not key:
            return []
        max_distance = min(_FUZZY_MAX_DISTANCE, max(1, len(key) // 3))
        candidates = self._fuzzy_candidates(key, max_distance)
        matches = process.extract(
            key,
            candidates,
            scorer=OSA.distance,
            score_cutoff=max_distance,
            limit=2 * _FUZZY_CANDIDATES,  # a key comes at most twice among the candidates
        )
        squeezed = _squeeze(key)
        scored = []
        seen: set[str] = {key}  # the key itself is not a close spelling of itself
        for candidate, distance, _ in matches:
            if candidate in seen:
                continue
            seen.add(candidate)
            similarity = 1.0 - distance / max(len(key), len(candidate))
            bonus = 0.0
            if _squeeze(candidate) == squeezed:
                bonus += 0.15
            if candidate[:1] == key[:1]:
                bonus += 0.05
            score = 0.85 * (0.75 * similarity + bonus) + 0.1 * self._popularity(candidate)
            scored.append((min(score, 0.89), candidate))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        return [self._hit(k, score, Method.FUZZY) for score, k in scored[:limit]]

    def search(self, query: str, mode: str, limit: int) -> list[Hit]:
        if mode == "exact":
            return self.exact(query)[:limit]
        if mode == "prefix":
            return self.prefix(query, limit)
        if mode == "fuzzy":
            return self.fuzzy(query, limit)
        # Like a search box: the exact word, then completions and close spellings interleaved by score.
        hits = self.exact(query) + self.prefix(query, limit) + self.fuzzy(query, limit)
        best: dict[str, Hit] = {}
        for hit in hits:
            if hit.key not in best or hit.score > best[hit.key].score:
                best[hit.key] = hit
        return sorted(best.values(), key=lambda hit: (-hit.score, hit.key))[:limit]
