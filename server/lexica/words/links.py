"""Links between entries: the headwords an entry names in its cross-references and its synonym paragraph.

GCIDE writes a cross-reference as prose inside a definition, an etymology, a compound or a synonym paragraph:
"See Apply.", "See also Abbey.", "See Manila hemp under Manila.", "Same as Abnet.", "See Above, adv., 4.",
"Compare Cloister." The headwords it names are capitalised; what follows them (a part of speech, a sense number,
"below") is not, which is how they are told apart. (Etymologies' "cf." is left out: it names languages, as in
"cf. F. abandon".) A synonym paragraph lists its words after "Syn. --", separated by semicolons or commas
("Syn. -- To give up; yield; forego."); a long one goes on to discuss them after its first sentence, and only that
first sentence is a list.

This module finds the names (as lookup keys, `lexica.words.keys`) without knowing which of them are headwords:
storage keeps each entry's names so that "which entries name X" is one indexed query, and whoever renders a link
keeps only the names that have an entry at that moment. An entry created later is then linked from the entries
that already named it, with nothing rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import orjson

from lexica._generated.models import LinkKind
from lexica.words.keys import lookup_key

MAX_NAMES = 200  # names kept per entry, in source order: bounds what a pathological entry costs to render
MAX_NAME_WORDS = 4  # a cross-reference names a headword, not a sentence
MAX_SYNONYM_WORDS = 3

# "See", "See also", "Same as", "Compare", "Cf.", up to the end of the reference (a full stop, a semicolon, a
# bracket or a parenthesis: "See A-(6)." names "A-").
_REFERENCE = re.compile(r"\b(?:See(?:\s+also)?|Same\s+as|Compare)\s+([^.;:()\[\]]+)")
_UNDER = re.compile(r"\s+under\s+")
_MARKERS = ("See", "Same", "Compare", "Syn.")  # what every reference or synonym paragraph holds
_CONNECTIVE = re.compile(r"^(?:and|or|also|under)\s+")
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|d|th)\s+")  # "See 2d Bay." names Bay
_SYNONYMS = re.compile(r"^\s*Syn\.\s*(?:--|\u2014)?\s*")
_SENTENCE_END = re.compile(r"\.(?:\s|$)")


@dataclass(frozen=True, slots=True)
class Name:
    """A headword that an entry names, as its lookup key, and how it names it."""

    key: str
    kind: LinkKind


def _candidate(text: str, *, capitalised: bool, max_words: int) -> str | None:
    """The lookup key of a name, or None when the text is not one (a part of speech, "below", a phrase)."""
    text = _ORDINAL.sub("", text.strip(" ,\t\n'\""))
    text = _CONNECTIVE.sub("", text)  # "See Abbey, and Monk."; "See Ablative absolute, under Ablative."
    if not text or len(text.split()) > max_words or (capitalised and not text[0].isupper()):
        return None
    key = lookup_key(text)
    return key if len(key) > 1 else None  # a single letter is an abbreviation ("See D", "U, F, etc.")


def _references(text: str) -> Iterator[str]:
    for match in _REFERENCE.finditer(text):
        for part in match.group(1).split(","):
            for piece in _UNDER.split(part):  # "Manila hemp under Manila": both are names
                if (key := _candidate(piece, capitalised=True, max_words=MAX_NAME_WORDS)) is not None:
                    yield key


def _synonyms(paragraph: str) -> Iterator[str]:
    head = _SYNONYMS.match(paragraph)
    if head is None:
        return
    rest = paragraph[head.end() :]
    end = _SENTENCE_END.search(rest)
    listing = rest[: end.start()] if end else rest
    for part in re.split(r"[;,]", listing):
        part = part.strip()
        if part.lower().startswith("to "):  # a verb's synonyms: "To give up; yield"
            part = part[3:]
        if (key := _candidate(part, capitalised=False, max_words=MAX_SYNONYM_WORDS)) is not None:
            yield key


def _texts(section: dict[str, object]) -> Iterator[str]:
    """A section's prose in reading order: etymology, definitions, compounds, synonyms."""
    definitions = section.get("definitions")
    texts = [
        section.get("etymology"),
        *(d.get("text") for d in (definitions if isinstance(definitions, list) else []) if isinstance(d, dict)),
        section.get("compounds"),
        section.get("synonyms"),
    ]
    return (text for text in texts if isinstance(text, str) and text)


def _named(sections: list[object]) -> Iterator[Name]:
    for section in sections:
        if not isinstance(section, dict):  # content is the API's shape; anything else names nothing
            continue
        for text in _texts(section):
            for key in _references(text):
                yield Name(key, LinkKind.SEE)
        if isinstance(synonyms := section.get("synonyms"), str):
            for key in _synonyms(synonyms):
                yield Name(key, LinkKind.SYNONYM)


def names(content: str, own_key: str) -> tuple[Name, ...]:
    """The headwords that an entry's content (its JSON array of part-of-speech sections) names, in the order it
    first names them with each kind, without the entry itself; at most `MAX_NAMES`."""
    return _names(content, own_key)


@lru_cache(maxsize=4096)  # rendering an entry and listing links read the same popular entries again and again
def _names(content: str, own_key: str) -> tuple[Name, ...]:
    if not any(marker in content for marker in _MARKERS):  # most entries: no prose to read (a substring search)
        return ()
    sections = orjson.loads(content)
    found: dict[Name, None] = {}
    for name in _named(sections if isinstance(sections, list) else []):
        if name.key != own_key:
            found.setdefault(name, None)
            if len(found) >= MAX_NAMES:
                break
    return tuple(found)


def stored_names(content: str, own_key: str) -> str:
    """What storage keeps of an entry's names: a JSON array of `[key, kind]` pairs in the order of `names`, read
    back with the entry (`read_names`: no parse of its prose on a read) and indexed by key ("which entries name
    X")."""
    return orjson.dumps([[name.key, name.kind.value] for name in names(content, own_key)]).decode()


def named_keys(stored: str) -> list[str]:
    """The distinct keys of stored names, sorted."""
    return sorted({pair[0] for pair in orjson.loads(stored)})


def read_names(stored: str) -> tuple[Name, ...]:
    """Stored names (`stored_names`) as `names` gave them."""
    return tuple(Name(key, _KINDS[kind]) for key, kind in orjson.loads(stored))


_KINDS = {kind.value: kind for kind in LinkKind}
