"""Databases for tests against a live server: a small hand-made sample, or the whole GCIDE dictionary.

Entries are written with the server's own storage code, so the data is exactly what an import stores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import import_entries
from lexica.words.keys import lookup_key
from lexica.words.repository import NewEntry


def make_entry(headword: str, *definitions: str, part_of_speech: str = "n.") -> NewEntry:
    """An entry with one part-of-speech section holding `definitions`, stored as an import stores it."""
    sections = [
        {
            "part_of_speech": part_of_speech,
            "etymology": None,
            "definitions": [{"text": text, "examples": []} for text in definitions],
            "compounds": None,
            "synonyms": None,
        }
    ]
    content = json.dumps(sections, ensure_ascii=False, separators=(",", ":"))
    return NewEntry(
        key=lookup_key(headword),
        headword=headword,
        content=content,
        content_hash=hashlib.sha256(content.encode()).hexdigest(),
        weight=len(definitions),
    )


# Headwords chosen for what they exercise: `/`, spaces, apostrophes, capitals, non-ASCII, a shared prefix
# ("app"), and common words whose misspellings the search must still find.
SAMPLE_ENTRIES: tuple[NewEntry, ...] = (
    make_entry("24/7", "All the time; without stopping.", part_of_speech="adv."),
    make_entry("9/11", "The attacks of 11 September 2001."),
    make_entry("apple", "The fleshy fruit of a rosaceous tree.", "The tree itself.", "Any similar fruit."),
    make_entry("apple pie", "A pie made with apples."),
    make_entry("applesauce", "Apples stewed to a pulp. See Apple.", "Nonsense."),
    make_entry("application", "The act of applying.", "A formal request."),
    make_entry("apply", "To put to use.", "To make a request.", part_of_speech="v. t."),
    make_entry("banana", "The fruit of a tropical plant.", "The plant itself."),
    make_entry("bandana", "A large, coloured handkerchief."),
    make_entry("café", "A small restaurant serving coffee."),
    make_entry("cat", "A small domesticated carnivore.", "Any animal of the cat family."),
    make_entry("dog", "A domesticated carnivore.", "A worthless fellow."),
    make_entry("hello", "A greeting.", part_of_speech="interj."),
    make_entry("jam session", "An informal gathering of musicians who improvise."),
    make_entry("necessary", "Such as must be.", "Indispensable.", part_of_speech="a."),
    make_entry("o'clock", "Of or according to the clock.", part_of_speech="adv."),
    make_entry("quiet", "Making no noise.", "Calm.", part_of_speech="a."),
    make_entry("quite", "Completely; wholly.", part_of_speech="adv."),
    make_entry("receive", "To take what is given.", "To admit.", part_of_speech="v. t."),
    make_entry("rhythm", "Regular recurrence of beats.", "Measured movement."),
    make_entry("river", "A large stream of water."),
    make_entry("rock 'n' roll", "A style of popular music."),
    make_entry("separate", "To divide.", "To set apart.", part_of_speech="v. t."),
    make_entry("yacht", "A light sailing vessel."),
    make_entry("zebra", "An African equine with stripes."),
    make_entry("Zeus", "The chief god of the Greeks."),
)


async def seed_entries(database_url: str, entries: Sequence[NewEntry]) -> int:
    """Create the schema if missing and upsert `entries`; returns how many entries were given."""
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        await import_entries(SqlWordRepository(engine), entries)
    finally:
        await engine.dispose()
    return len(entries)


def letter_entries(letter: str) -> list[NewEntry]:
    """GCIDE's entries for one letter (a few hundred to a few thousand real entries)."""
    return read_entries([path for path in gcide_files() if path.name == f"words_{letter}.json"], SourceReport())


def gcide_entries() -> list[NewEntry]:
    """The whole GCIDE dictionary (about 108k entries) as the importer prepares it."""
    return read_entries(gcide_files(), SourceReport())
