"""Links between entries as the API gives them: the entries an entry names (`Entry.links`), and both directions at
once for `getRelatedEntries`.

The names come from the entry's text (`lexica.words.links`); a name is a link only while an entry has that key, so
each answer looks the names up in storage as it is made. The entries naming a key come from storage's index of
every entry's names (`WordRepository.naming`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lexica._generated.models import EntryLink, LinkKind
from lexica.platform.pagination import Keyset
from lexica.words.hrefs import entry_href
from lexica.words.links import Name
from lexica.words.repository import StoredEntry, WordRepository


@dataclass(frozen=True, slots=True)
class Linked:
    """An entry at the other end of a link, and every way the link is made."""

    key: str
    headword: str
    kinds: tuple[LinkKind, ...]


@dataclass(frozen=True, slots=True)
class RelatedPage:
    headword: str
    links_to: list[Linked]  # every entry it names, in the order it first names them
    linked_from: list[Linked]  # one page of the entries that name it, in key order
    next_cursor: str | None


async def named_entries(repository: WordRepository, entry: StoredEntry) -> list[tuple[Name, str]]:
    """The names in the entry that have an entry now, with that entry's headword, in the order they are named."""
    named = entry.names
    if not named:
        return []
    return resolved(named, await repository.headwords_of(sorted({name.key for name in named})))


def resolved(named: Sequence[Name], headwords: Mapping[str, str]) -> list[tuple[Name, str]]:
    """The names that have an entry (in `headwords`, key -> headword), with its headword, in their order."""
    return [(name, headwords[name.key]) for name in named if name.key in headwords]


async def links_of_entries(repository: WordRepository, entries: Sequence[StoredEntry]) -> list[list[EntryLink]]:
    """`Entry.links` of each of `entries` (a page of an export), with one lookup of every name they hold."""
    named = [entry.names for entry in entries]
    headwords = await repository.headwords_of(sorted({name.key for found in named for name in found}))
    return [entry_links(resolved(found, headwords)) for found in named]


def entry_links(resolved: list[tuple[Name, str]]) -> list[EntryLink]:
    return [EntryLink(headword=headword, href=entry_href(headword), kind=name.kind) for name, headword in resolved]


def _grouped(resolved: list[tuple[Name, str]]) -> list[Linked]:
    kinds: dict[str, list[LinkKind]] = {}
    headwords: dict[str, str] = {}
    for name, headword in resolved:
        headwords.setdefault(name.key, headword)
        kinds.setdefault(name.key, []).append(name.kind)
    return [Linked(key, headwords[key], tuple(dict.fromkeys(found))) for key, found in kinds.items()]


def _naming(source: StoredEntry, key: str) -> Linked | None:
    kinds = tuple(dict.fromkeys(name.kind for name in source.names if name.key == key))
    return Linked(source.key, source.headword, kinds) if kinds else None


async def related_page(
    repository: WordRepository, keyset: Keyset, entry: StoredEntry, *, cursor: str | None, limit: int
) -> RelatedPage:
    """The entries `entry` names, and the page at `cursor` of those that name it."""
    after = keyset.start(cursor)  # a bad cursor is refused before anything is read
    links_to = _grouped(await named_entries(repository, entry))
    page = keyset.page(await repository.naming(entry.key, after=after, limit=limit + 1), limit, lambda e: e.key)
    linked_from = [linked for source in page.rows if (linked := _naming(source, entry.key)) is not None]
    return RelatedPage(entry.headword, links_to, linked_from, page.next_cursor)
