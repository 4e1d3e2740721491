"""Links through the port, on every backend: each engine's index of the names entries hold finds the entries naming
a key, in key order and by pages, and stays in step with creates, edits, deletes and imports."""

from __future__ import annotations

from lexica._generated.models import PartOfSpeechSection
from lexica.words.repository import NewEntry, Precondition, WordRepository
from lexica.words.service import new_entry


def _entry(headword: str, text: str, synonyms: str | None = None) -> NewEntry:
    section = {
        "part_of_speech": "n.",
        "etymology": None,
        "definitions": [{"text": text, "examples": []}],
        "compounds": None,
        "synonyms": synonyms,
    }
    return new_entry(headword, [PartOfSpeechSection.model_validate(section)])


async def _naming(words: WordRepository, key: str, *, after: str | None = None, limit: int = 50) -> list[str]:
    return [entry.key for entry in await words.naming(key, after=after, limit=limit)]


async def test_the_entries_naming_a_key_in_key_order_by_pages(words: WordRepository) -> None:
    await words.upsert_many(
        [
            _entry("abbess", "The superior of a nunnery. See Abbey."),
            _entry("Abbot", "The superior of an abbey. See Abbey, and Monk."),
            _entry("priory", "A religious house.", synonyms="Syn. -- Abbey; convent; cloister."),
            _entry("monk", "A man of a religious order. See Monastery."),
            _entry("abbey", "A monastery. See Abbot.", synonyms="Syn. -- Monastery; convent; priory."),
        ],
        source="gcide",
    )

    assert await _naming(words, "abbey") == ["abbess", "abbot", "priory"]  # "See", "See", "Syn."
    assert await _naming(words, "monastery") == ["abbey", "monk"]  # named, though no entry has the key
    assert await _naming(words, "abbey", limit=2) == ["abbess", "abbot"]
    assert await _naming(words, "abbey", after="abbot") == ["priory"]
    assert await _naming(words, "abbey", after="priory") == []
    assert await _naming(words, "nothing") == []
    found = (await words.naming("abbey", after=None, limit=1))[0]
    assert (found.headword, found.version) == ("abbess", 1)  # whole entries: the caller reads how they name it


async def test_the_index_follows_creates_edits_deletes_and_imports(words: WordRepository) -> None:
    assert await words.create(_entry("kitten", "A young cat. See Cat.")) is not None
    assert await _naming(words, "cat") == ["kitten"]

    replaced = await words.replace_if("kitten", Precondition(version=1), _entry("kitten", "A young fox. See Fox."))
    assert replaced is not None
    assert (await _naming(words, "cat"), await _naming(words, "fox")) == ([], ["kitten"])

    await words.upsert_many([_entry("cub", "A young fox. See Fox, and Bear.")], source="gcide")
    assert await _naming(words, "fox") == ["cub", "kitten"]
    await words.upsert_many([_entry("cub", "A young lion. See Lion.")], source="gcide")  # an import changes it
    assert (await _naming(words, "fox"), await _naming(words, "bear")) == (["kitten"], [])
    assert await _naming(words, "lion") == ["cub"]

    assert await words.delete_if("kitten", Precondition(version=2))
    assert await _naming(words, "fox") == []
    assert await words.delete_if("cub", Precondition())
    assert await _naming(words, "lion") == []
