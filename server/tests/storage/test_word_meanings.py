"""Reverse lookup through the port, on every backend: each engine's full-text index finds the entries holding a term,
stays in step with creates, edits, deletes and imports, and the same data answers in the same order everywhere."""

from __future__ import annotations

import json

from lexica._generated.models import PartOfSpeechSection
from lexica.platform.pagination import CursorCodec
from lexica.words.meaning import meaning_text
from lexica.words.repository import NewEntry, Precondition, WordRepository
from lexica.words.service import WordService, new_entry

DEFINITIONS = {
    "cooper": ["One who makes barrels, hogsheads, casks, etc.", "To do the work of a cooper upon a cask or barrel."],
    "barrel": ["A round vessel or cask, of greater length than breadth, made of staves bound with hoops."],
    "tun": ["A large cask; an oblong vessel bulging in the middle, like a pipe or puncheon."],
    "wheelwright": ["A man whose occupation is to make or repair wheels and wheeled carriages."],
    "kitten": ["A young cat."],
    "cat": ["A domesticated carnivore, kept to catch mice and rats, or as a pet."],
    "puncheon": ["A cask containing, sometimes 84, and sometimes 120, gallons."],
    "hooper": ["One who hoops casks or tubs; a cooper."],
}


def _entry(headword: str, definitions: list[str]) -> NewEntry:
    section = {
        "part_of_speech": "n.",
        "etymology": None,
        "definitions": [{"text": text, "examples": []} for text in definitions],
        "compounds": None,
        "synonyms": None,
    }
    return new_entry(headword, [PartOfSpeechSection.model_validate(section)])


async def _load(words: WordRepository) -> None:
    await words.upsert_many([_entry(headword, texts) for headword, texts in DEFINITIONS.items()], source="gcide")


async def test_the_engine_counts_and_finds_the_entries_holding_a_term(words: WordRepository) -> None:
    await _load(words)

    assert await words.meaning_holding(["cask", "cat", "nowher"]) == {
        "cask": 5,
        "cat": 1,
        "nowher": 0,
    }  # "cat" is a word of kitten's definition only
    found = await words.meaning_candidates(["cat", "wheel"])
    assert sorted(candidate.key for candidate in found) == ["kitten", "wheelwright"]
    kitten = next(candidate for candidate in found if candidate.key == "kitten")
    assert (kitten.headword, kitten.meaning) == ("kitten", "young cat")
    corpus = await words.meaning_corpus()
    assert corpus.entries == len(DEFINITIONS)
    stored_terms = [len(meaning_text(_entry(h, t).content).split()) for h, t in DEFINITIONS.items()]
    assert abs(corpus.average_terms - sum(stored_terms) / len(stored_terms)) < 1e-9


async def test_the_index_follows_creates_edits_deletes_and_imports(words: WordRepository) -> None:
    created = await words.create(_entry("kitten", ["A young cat."]))
    assert created is not None
    assert await words.meaning_holding(["cat"]) == {"cat": 1}

    replaced = await words.replace_if("kitten", Precondition(version=1), _entry("kitten", ["A young fox."]))
    assert replaced is not None
    assert await words.meaning_holding(["cat", "fox"]) == {"cat": 0, "fox": 1}

    await words.upsert_many([_entry("cub", ["A young fox or bear."])], source="gcide")
    assert await words.meaning_holding(["fox", "bear"]) == {"fox": 2, "bear": 1}
    await words.upsert_many([_entry("cub", ["A young lion."])], source="gcide")  # an import that changes it
    assert await words.meaning_holding(["bear", "lion"]) == {"bear": 0, "lion": 1}

    assert await words.delete_if("kitten", Precondition(version=2))
    assert await words.meaning_holding(["fox"]) == {"fox": 0}
    assert [candidate.key for candidate in await words.meaning_candidates(["young"])] == ["cub"]


async def test_the_same_data_answers_in_the_same_order_on_every_backend(words: WordRepository) -> None:
    await _load(words)
    service = WordService(words, CursorCodec("meaning-test-secret"), cache_size=0, cache_ttl_seconds=60)

    hits = await service.by_meaning("one who makes barrels", 5)

    # The same literal for every backend this test runs on: BM25 over what each engine found.
    # (barrel's definition says "made", whose stem is not "make", and not "barrel")
    assert [hit.headword for hit in hits] == ["cooper", "wheelwright"]
    assert hits[0].snippet == "One who makes barrels, hogsheads, casks, etc."
    assert all(0 < hit.score < 1 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert json.dumps([hit.headword for hit in await service.by_meaning("a young cat", 3)]) == '["kitten"]'
