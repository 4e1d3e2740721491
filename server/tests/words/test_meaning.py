"""Reverse lookup's terms and ranking (lexica.words.meaning), without storage."""

from __future__ import annotations

import json

from lexica.words.meaning import (
    SNIPPET_CHARS,
    Candidate,
    Corpus,
    definitions_of,
    idf,
    meaning_text,
    query_terms,
    rank,
    relative_scores,
    snippet,
    terms,
)


def _content(*definitions: str) -> str:
    return json.dumps(
        [{"part_of_speech": "n.", "definitions": [{"text": text, "examples": []} for text in definitions]}]
    )


def test_terms_are_stemmed_content_words_without_accents_or_filler() -> None:
    assert terms("One who makes Barrels, hogsheads, casks, etc.") == ["make", "barrel", "hogshead", "cask"]
    assert terms("Café crème") == ["cafe", "creme"]
    assert terms("not having a name") == ["not", "name"]  # negation stays: it changes the meaning
    assert query_terms("barrel barrels BARREL maker") == ["barrel", "maker"]


def test_what_an_entry_stores_comes_from_every_definition_and_survives_odd_content() -> None:
    assert meaning_text(_content("A young cat.", "A playful child.")) == "young cat play child"
    assert definitions_of('[{"pos": "n"}]') == []
    assert definitions_of("[1, 2]") == []
    assert meaning_text("{}") == ""


def test_idf_is_never_negative_and_falls_as_terms_get_common() -> None:
    assert idf(1000, 1) > idf(1000, 100) > idf(1000, 999) > 0


def test_bm25_prefers_rare_terms_repeated_terms_and_short_definitions() -> None:
    corpus = Corpus(entries=1000, average_terms=6.0)
    holding = {"barrel": 10, "make": 500}
    candidates = [
        Candidate("maker", "maker", "make thing"),
        Candidate("cooper", "cooper", "make barrel cask cooper barrel"),
        Candidate("tun", "tun", "larg barrel vessel"),
        Candidate("long", "long", "barrel " + "word " * 40),
        Candidate("none", "none", "noth relev"),
    ]
    ranked = rank(["make", "barrel"], candidates, holding, corpus, limit=10)
    assert [hit.key for hit in ranked] == ["cooper", "tun", "long", "maker"]
    shares = relative_scores(ranked, ["make", "barrel"], holding, corpus)
    assert all(0 < share < 1 for share in shares)
    assert shares == sorted(shares, reverse=True)


def test_ties_are_broken_by_key_so_every_backend_orders_alike() -> None:
    corpus = Corpus(entries=100, average_terms=2.0)
    candidates = [Candidate(key, key, "young cat") for key in ("kitten", "catling", "kit")]
    assert [hit.key for hit in rank(["cat"], candidates, {"cat": 3}, corpus, limit=3)] == ["catling", "kit", "kitten"]


def test_the_snippet_is_the_definition_that_matched_cut_short() -> None:
    content = _content("To do the work of a cooper upon.", "One who makes barrels, hogsheads, casks, etc.")
    assert snippet(content, ["make", "barrel"]) == "One who makes barrels, hogsheads, casks, etc."
    long = _content("barrel " * 100)
    cut = snippet(long, ["barrel"])
    assert len(cut) == SNIPPET_CHARS
    assert cut.endswith("…")
