"""Finding the headwords an entry names: GCIDE's cross-references and synonym paragraphs."""

from __future__ import annotations

import json

from lexica._generated.models import LinkKind
from lexica.words.links import MAX_NAMES, Name, named_keys, names, read_names, stored_names

SEE, SYNONYM = LinkKind.SEE, LinkKind.SYNONYM


def content(*definitions: str, etymology: str | None = None, synonyms: str | None = None) -> str:
    section = {
        "part_of_speech": "n.",
        "etymology": etymology,
        "definitions": [{"text": text, "examples": []} for text in definitions],
        "compounds": None,
        "synonyms": synonyms,
    }
    return json.dumps([section])


def keys(found: tuple[Name, ...]) -> list[tuple[str, LinkKind]]:
    return [(name.key, name.kind) for name in found]


def test_cross_references_name_capitalised_headwords() -> None:
    text = content(
        "A carnivorous mammal of South Africa. See Proteles.",
        "The Manila-hemp plant. See Manila hemp under Manila.",
        "Surpassing in number. (See Above, adv., 4.)",
        "The purging of tensions.  See Catharsis, below.",
        "See Ablative absolute, under Ablative.",
        "Barking of dogs. See 2d Bay.",
        "Same as Abnet.",
        "See also Abbey; compare Cloister.",
        "See Abbot, and Monk, or Nun.",
        "Compare Priory.",
    )
    assert keys(names(text, "x")) == [
        ("proteles", SEE),
        ("manila hemp", SEE),
        ("manila", SEE),
        ("above", SEE),  # not "adv"
        ("catharsis", SEE),  # not "below"
        ("ablative absolute", SEE),
        ("ablative", SEE),
        ("bay", SEE),
        ("abnet", SEE),
        ("abbey", SEE),
        ("abbot", SEE),
        ("monk", SEE),
        ("nun", SEE),
        ("priory", SEE),  # "compare" lower-cased inside a sentence is prose, not a reference
    ]


def test_etymologies_name_headwords_but_not_languages() -> None:
    text = content("To abandon.", etymology="[F. abandonner, cf. F. ban. See Ban, and cf. Abandon.]")
    assert keys(names(text, "abandon")) == [("ban", SEE)]


def test_a_synonym_paragraph_lists_its_first_sentence() -> None:
    verbs = content("To give up.", synonyms="Syn. -- To give up; yield; forego; cede; withdraw from.")
    assert keys(names(verbs, "abandon")) == [
        ("give up", SYNONYM),
        ("yield", SYNONYM),
        ("forego", SYNONYM),
        ("cede", SYNONYM),
        ("withdraw from", SYNONYM),
    ]
    discursive = content(
        "To lower.",
        synonyms="Syn. -- To Abase, Debase, Degrade. These words agree in the idea of bringing down. See Base.",
    )
    # The entry itself is left out; after the first sentence only cross-references count.
    assert keys(names(discursive, "abase")) == [("base", SEE), ("debase", SYNONYM), ("degrade", SYNONYM)]


def test_single_letters_phrases_and_the_entry_itself_are_not_names() -> None:
    text = content("See D.", "See the note on this word, which is long.", "Same as Apple.", "See U, F, etc.")
    assert keys(names(text, "apple")) == []


def test_each_name_once_per_kind_in_source_order() -> None:
    text = content("See Cloister.", "See Cloister.", synonyms="Syn. -- Monastery; cloister. See Cloister.")
    assert keys(names(text, "abbey")) == [("cloister", SEE), ("monastery", SYNONYM), ("cloister", SYNONYM)]
    stored = stored_names(text, "abbey")
    assert json.loads(stored) == [["cloister", "see"], ["monastery", "synonym"], ["cloister", "synonym"]]
    assert read_names(stored) == names(text, "abbey")  # read back as found
    assert named_keys(stored) == ["cloister", "monastery"]


def test_content_not_in_the_api_shape_names_nothing() -> None:
    for odd in ("[1]", "[]", "{}", '[{"definitions": 3, "synonyms": 4}]', '["See Apple."]'):
        assert names(odd, "x") == ()
        assert stored_names(odd, "x") == "[]"


def test_an_entry_names_at_most_max_names() -> None:
    text = content(*(f"See Word{number:04d}." for number in range(MAX_NAMES + 50)))
    found = names(text, "x")
    assert len(found) == MAX_NAMES
    assert found[0].key == "word0000"
