"""The in-process search index: exact, prefix and fuzzy matching and their ranking."""

from __future__ import annotations

import pytest

from lexica.words.repository import IndexRow
from lexica.words.search_index import Method, SearchIndex

WORDS = {
    "apple": 6, "apply": 8, "ample": 3, "able": 9, "ape": 4, "applaud": 2, "apple pie": 1,
    "receive": 7, "relieve": 5, "science": 5, "scene": 4, "24/7": 1, "hello": 2, "helot": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex([IndexRow(key=key, headword=key, weight=weight) for key, weight in WORDS.items()])


@pytest.mark.parametrize(("typo", "word"), [("aple", "apple"), ("appple", "apple"), ("recieve", "receive"),
                                             ("sceince", "science"), ("helo", "hello")])  # fmt: skip
def test_common_misspellings_find_the_word_in_the_top_three(index: SearchIndex, typo: str, word: str) -> None:
    top = [hit.headword for hit in index.search(typo, "auto", 3)]
    assert word in top


def test_exact_match_scores_one_and_comes_first(index: SearchIndex) -> None:
    hits = index.search("Apple", "auto", 5)
    assert hits[0].headword == "apple"
    assert hits[0].score == 1.0
    assert hits[0].method is Method.EXACT


def test_prefix_prefers_shorter_completions(index: SearchIndex) -> None:
    hits = index.prefix("appl", 10)
    assert [hit.headword for hit in hits][:2] == ["apple", "apply"] or [hit.headword for hit in hits][:2] == [
        "apply",
        "apple",
    ]
    assert hits[-1].headword == "apple pie"
    assert all(0 < hit.score < 1 for hit in hits)


def test_prefix_does_not_repeat_the_exact_word(index: SearchIndex) -> None:
    assert "apple" not in [hit.headword for hit in index.prefix("apple", 10)]


def test_fuzzy_scores_stay_below_exact_and_are_ordered(index: SearchIndex) -> None:
    hits = index.fuzzy("aple", 10)
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score < 1 for score in scores)


def test_nothing_is_found_for_unrelated_or_blank_queries(index: SearchIndex) -> None:
    assert index.search("zzzzzzzz", "auto", 5) == []
    assert index.search("   ", "auto", 5) == []


def test_results_never_exceed_the_limit(index: SearchIndex) -> None:
    assert len(index.search("a", "auto", 2)) <= 2


def test_an_empty_index_answers_empty(index: SearchIndex) -> None:
    assert SearchIndex([]).search("apple", "auto", 5) == []


# Real GCIDE headwords near three common misspellings, with GCIDE's sense counts as weights: the rare words have as
# many senses as the common ones or more, so only how common a word is in English puts the intended one first.
NEAR_MISSPELLINGS = {
    "their": 1, "trier": 3, "thider": 1, "tier": 5, "thief": 4,
    "receive": 7, "relieve": 9, "receiver": 8, "retrieve": 10, "reprieve": 6,
    "separate": 9, "sperate": 2, "desperate": 4, "septenate": 1, "temperate": 6,
}  # fmt: skip


@pytest.mark.parametrize(("typo", "word"), [("thier", "their"), ("recieve", "receive"), ("seperate", "separate")])
def test_the_common_word_comes_first_among_equally_close_spellings(typo: str, word: str) -> None:
    index = SearchIndex([IndexRow(key=key, headword=key, weight=weight) for key, weight in NEAR_MISSPELLINGS.items()])
    assert index.fuzzy(typo, 5)[0].headword == word
    assert index.search(typo, "auto", 5)[0].headword == word
