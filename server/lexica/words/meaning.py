"""Reverse lookup: headwords ranked by how well their definitions match the words of a description.

Every entry stores its definitions as terms (`meaning_text`): lower-cased words without accents, stop words dropped,
each reduced to its stem (Snowball's English stemmer), so that "makes barrels" meets "makes barrels, hogsheads" and
"barrel-maker" alike. Each backend indexes those terms with its own engine — SQLite FTS5, PostgreSQL's `simple`
text search over a GIN index, a multikey index of each entry's distinct terms on MongoDB (its text index would do
the same on MongoDB itself, but the wire-protocol server of the tests matches inside words) — which finds the
entries holding a term and counts them; none stems or drops words again, so all three find the same entries.

The ranking is BM25 (k1 1.2, b 0.75, the usual constants, as in FTS5 and Lucene), computed here from what the
engine found: each backend's own scoring differs (FTS5 has BM25, PostgreSQL's `ts_rank` and MongoDB's text score do
not), and the same data must come back in the same order whichever backend holds it. A term more common than
`COMMON_TERM_ENTRIES` entries ("use", "act", "state") does not bring in candidates by itself — it would bring in
thousands, each too weakly matched to be among the best — but it still counts for the entries other terms found.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 12  # distinct terms of a query that count; a longer description adds words, not meaning
COMMON_TERM_ENTRIES = 800  # a term in more entries than this brings in no candidates of its own (make bench:
# at 800 recall@10 is what it is at 4,000 and p99 is a sixth)
SNIPPET_CHARS = 240

_WORD = re.compile(r"[a-z]+")

# English function words and the filler of dictionary definitions ("one who", "the act of", "pertaining to"):
# words that say nothing about which entry is meant. Hand-written: the stemmer's package ships no stop words.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each either etc few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself neither
    nor now of off on once one only or other ought our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through thus to too under until up
    upon very was we were what when where which while who whom whose why will with would you your yours yourself
    yourselves something someone somebody anything thing things any kind sort used use called especially pertaining
    relating act state quality manner
    """.split()  # noqa: SIM905 - a list of words reads best as one text
)


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The word's Snowball stem. Remembered: the stemmer is pure Python, and a dictionary's definitions use some
    100,000 distinct words a million times (an import stems each once, not ten times)."""
    return str(_STEMMER.stemWord(word))


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`, in order (repeats kept: they are the term frequencies)."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return [stem(word) for word in _WORD.findall(folded) if word not in STOP_WORDS and len(word) > 1]


def definitions_of(content: str) -> list[str]:
    """The definition texts of an entry's stored content (its parts of speech as JSON), in order; what is not
    shaped like a part of speech with its definitions (content the storage port was given as it is) has none."""
    parts = json.loads(content)
    texts = []
    for part in parts if isinstance(parts, list) else []:
        definitions = part.get("definitions") if isinstance(part, dict) else None
        for definition in definitions if isinstance(definitions, list) else []:
            if isinstance(definition, dict) and isinstance(definition.get("text"), str):
                texts.append(definition["text"])
    return texts


def meaning_text(content: str) -> str:
    """What an entry stores for reverse lookup: the terms of all its definitions, separated by spaces."""
    return " ".join(term for text in definitions_of(content) for term in terms(text))


def query_terms(query: str) -> list[str]:
    """The distinct terms of a description, in order, at most `MAX_QUERY_TERMS`."""
    return list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entry the engine found for at least one term: its key, headword and stored terms."""

    key: str
    headword: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Corpus:
    """What BM25 needs to know of all entries: how many there are and their average number of terms."""

    entries: int
    average_terms: float


@dataclass(frozen=True, slots=True)
class Ranked:
    key: str
    headword: str
    score: float  # BM25, unbounded


def idf(entries: int, holding: int) -> float:
    """BM25's inverse document frequency, never negative (a term in most entries still counts a little)."""
    return math.log(1.0 + (entries - holding + 0.5) / (holding + 0.5))


def selecting_terms(query: Sequence[str], holding: Mapping[str, int]) -> list[str]:
    """The query's terms that bring in the candidates: those held by at most COMMON_TERM_ENTRIES entries; with none,
    the rarest held term (the others only score what these bring in)."""
    held = sorted((term for term in query if holding.get(term)), key=lambda term: (holding[term], term))
    return [term for term in held if holding[term] <= COMMON_TERM_ENTRIES] or held[:1]


def rank(
    query: Sequence[str],
    candidates: Iterable[Candidate],
    holding: dict[str, int],
    corpus: Corpus,
    limit: int,
) -> list[Ranked]:
    """The `limit` best candidates by BM25 over the query's terms, ties by key; `holding[term]` is how many
    entries hold the term."""
    weights = {term: idf(corpus.entries, holding.get(term, 0)) for term in query}
    average = corpus.average_terms or 1.0
    scored = []
    for candidate in candidates:
        words = candidate.meaning.split()
        counts = Counter(word for word in words if word in weights)
        if not counts:
            continue
        norm = K1 * (1 - B + B * len(words) / average)
        score = sum(weights[term] * count * (K1 + 1) / (count + norm) for term, count in counts.items())
        scored.append(Ranked(candidate.key, candidate.headword, round(score, 9)))
    scored.sort(key=lambda ranked: (-ranked.score, ranked.key))
    return scored[:limit]


def relative_scores(
    ranked: Sequence[Ranked], query: Sequence[str], holding: dict[str, int], corpus: Corpus
) -> list[float]:
    """Each hit's score as a share (0..1) of BM25's bound for the query: every term, endlessly repeated, in an
    entry of no length. Same order as the scores; 1 is out of reach, and a close match of every term is near 0.5."""
    bound = (K1 + 1) * sum(idf(corpus.entries, holding.get(term, 0)) for term in query) or 1.0
    return [min(hit.score / bound, 1.0) for hit in ranked]


def snippet(content: str, query: Sequence[str]) -> str:
    """The definition that holds the most query terms (the first such), cut to `SNIPPET_CHARS`."""
    wanted = set(query)
    texts = definitions_of(content)
    if not texts:
        return ""
    best = max(texts, key=lambda text: len(wanted.intersection(terms(text))))
    return best if len(best) <= SNIPPET_CHARS else best[: SNIPPET_CHARS - 1].rstrip() + "…"
