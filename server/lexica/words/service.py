"""Business rules of the words domain: entry lookup with caching, headword pages, search."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cachetools import TTLCache
from pydantic import TypeAdapter

from lexica._generated.models import Entry, PartOfSpeechSection
from lexica.platform.etags import parse_if_match
from lexica.platform.events import EventBus
from lexica.platform.pagination import CursorCodec
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.reply import Serialised
from lexica.words.keys import lookup_key
from lexica.words.repository import HeadwordRow, IndexRow, NewEntry, Precondition, StoredEntry, WordRepository
from lexica.words.search_index import Hit, SearchIndex

ENTRIES_TOPIC = "entries"
_SECTIONS = TypeAdapter(list[PartOfSpeechSection])


@dataclass(frozen=True, slots=True)
class EntryView:
    etag: str  # quoted, strong
    body: Serialised[Entry]


@dataclass(frozen=True, slots=True)
class HeadwordSlice:
    rows: list[HeadwordRow]
    next_cursor: str | None


ETAG_HASH_LENGTH = 16
_ETAG = re.compile(r'^"(\d{1,18})-([0-9a-f]{16})"$')


def entity_tag(entry: StoredEntry) -> str:
    """Strong ETag from the entry's version and a digest of its content: changes whenever either does."""
    return f'"{entry.version}-{entry.content_hash[:ETAG_HASH_LENGTH]}"'


def precondition(if_match: str | None) -> Precondition:
    """The stored state `If-Match` demands; 428 without the header."""
    if if_match is None:
        raise ProblemError(
            428,
            "Send If-Match with the entry's current ETag (GET it first) so concurrent edits cannot be lost.",
            slug="precondition-required",
            title="Precondition Required",
        )
    tags = parse_if_match(if_match)
    if tags is None:
        return Precondition()
    for tag in tags:
        if match := _ETAG.match(tag):
            return Precondition(version=int(match.group(1)), hash_prefix=match.group(2))
    return Precondition(version=-1)  # no tag of ours: matches nothing, answered 412


def stale(headword: str) -> ProblemError:
    return ProblemError(
        412,
        f"The entry {headword!r} changed since the ETag you sent; GET it again and reapply your change.",
        slug="precondition-failed",
        title="Precondition Failed",
    )


def new_entry(headword: str, parts: list[PartOfSpeechSection]) -> NewEntry:
    display = " ".join(headword.split())
    key = lookup_key(display)
    if not key:
        raise validation_problem(
            "The headword is empty once spaces are removed.",
            field_error(["body", "headword"], "Empty headword.", "empty"),
        )
    content = _SECTIONS.dump_json(parts)
    return NewEntry(
        key=key,
        headword=display,
        content=content.decode(),
        content_hash=hashlib.sha256(content).hexdigest(),
        weight=sum(len(part.definitions) for part in parts),
    )


class WordService:
    def __init__(
        self,
        repository: WordRepository,
        cursors: CursorCodec,
        *,
        cache_size: int,
        cache_ttl_seconds: float,
        events: EventBus | None = None,
    ) -> None:
        self._repository = repository
        self._cursors = cursors
        self._cache: TTLCache[str, EntryView] | None = (
            TTLCache(maxsize=cache_size, ttl=cache_ttl_seconds) if cache_size > 0 else None
        )
        self._events = events
        self._index = SearchIndex([])
        self._writes = 0  # writes this instance made; reads overtaken by one are not cached
        # Listing pages and search results are cached as briefly as their Cache-Control allows (60 s).
        self._pages: TTLCache[tuple[str, str | None, int], HeadwordSlice] = TTLCache(maxsize=4096, ttl=60)
        self._searches: TTLCache[tuple[str, str, int], list[Hit]] = TTLCache(maxsize=4096, ttl=60)

    @property
    def index(self) -> SearchIndex:
        return self._index

    async def rebuild_index(self) -> int:
        """Reload the search index from storage; returns the number of headwords indexed."""
        self._index = SearchIndex(await self._repository.index_rows())
        self._searches.clear()
        self._pages.clear()
        return len(self._index)

    async def entry(self, headword: str, *, fresh: bool = False) -> EntryView | None:
        """The entry, from this instance's cache unless `fresh` asks for the stored one (which refreshes the cache)."""
        key = lookup_key(headword)
        if not key:
            return None
        if not fresh and self._cache is not None and (cached := self._cache.get(key)) is not None:
            return cached
        writes_before = self._writes
        stored = await self._repository.get(key)
        if stored is None:
            if self._cache is not None:
                self._cache.pop(key, None)
            return None
        view = self._view(stored)
        # A write made by this instance while the read was in flight may have invalidated the key already; caching
        # what the read found would then keep the old version for the whole TTL. Only cache reads no write overtook.
        if self._cache is not None and self._writes == writes_before:
            self._cache[key] = view
        return view

    async def headwords(self, *, prefix: str | None, limit: int, cursor: str | None) -> HeadwordSlice:
        key_prefix = lookup_key(prefix or "")
        scope = f"words:{key_prefix}"
        after = self._cursors.decode(scope, cursor) if cursor is not None else None
        cache_key = (key_prefix, after, limit)
        if (cached := self._pages.get(cache_key)) is not None:
            return cached
        rows = await self._repository.list_headwords(prefix=key_prefix, after=after, limit=limit + 1)
        next_cursor = self._cursors.encode(scope, rows[limit - 1].key) if len(rows) > limit else None
        page = HeadwordSlice(rows=rows[:limit], next_cursor=next_cursor)
        self._pages[cache_key] = page
        return page

    def _view(self, stored: StoredEntry) -> EntryView:
        entry = Entry(
            headword=stored.headword, version=stored.version, parts_of_speech=_SECTIONS.validate_json(stored.content)
        )
        return EntryView(etag=entity_tag(stored), body=Serialised.of(entry))

    def _changed(self, key: str, stored: StoredEntry | None, weight: int = 0) -> None:
        """Keep this instance's caches and index in step with a write it made."""
        self._writes += 1
        if self._cache is not None:
            self._cache.pop(key, None)
        self._pages.clear()
        self._searches.clear()
        if stored is None:
            self._index.remove(key)
        else:
            self._index.add(IndexRow(key=stored.key, headword=stored.headword, weight=weight))

    async def _announce(self, change: str, headword: str, version: int | None) -> None:
        """`entry.changed` on the `entries` topic (AsyncAPI), for WebSocket subscribers on every instance."""
        if self._events is None:
            return
        payload = {
            "type": "entry.changed",
            "topic": ENTRIES_TOPIC,
            "headword": headword,
            "version": version,
            "change": change,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        await self._events.publish(ENTRIES_TOPIC, "entry.changed", payload)

    def forget_cached(self) -> None:
        """Drop every cached entry, page and search (the dictionary changed under this instance)."""
        self._writes += 1
        if self._cache is not None:
            self._cache.clear()
        self._pages.clear()
        self._searches.clear()

    async def create_entry(self, headword: str, parts: list[PartOfSpeechSection]) -> EntryView:
        new = new_entry(headword, parts)
        stored = await self._repository.create(new)
        if stored is None:
            raise ProblemError(409, f"The headword {new.headword!r} already exists.", slug="conflict", title="Conflict")
        self._changed(new.key, stored, new.weight)
        await self._announce("created", stored.headword, stored.version)
        return self._view(stored)

    async def _write(self, key: str, if_match: str | None, new: NewEntry) -> EntryView:
        stored = await self._repository.replace_if(key, precondition(if_match), new)
        if stored is None:
            if await self._repository.get(key) is None:
                raise ProblemError(404, f"No entry for the headword {new.headword!r}.")
            raise stale(new.headword)
        self._changed(key, stored, new.weight)
        await self._announce("updated", stored.headword, stored.version)
        return self._view(stored)

    async def replace_entry(
        self, headword: str, if_match: str | None, new_headword: str, parts: list[PartOfSpeechSection]
    ) -> EntryView:
        key = lookup_key(headword)
        new = new_entry(new_headword, parts)
        if new.key != key:
            raise validation_problem(
                f"The body's headword {new.headword!r} does not name the entry {headword!r}.",
                field_error(["body", "headword"], "Must match the URL.", "mismatch"),
            )
        return await self._write(key, if_match, new)

    async def patch_entry(
        self, headword: str, if_match: str | None, parts: list[PartOfSpeechSection] | None
    ) -> EntryView:
        key = lookup_key(headword)
        condition = precondition(if_match)
        current = await self._repository.get(key) if key else None
        if current is None:
            raise ProblemError(404, f"No entry for the headword {headword!r}.")
        if parts is None:  # an empty merge patch changes nothing; it still answers for the precondition
            if (
                condition.version is not None
                and entity_tag(current) != f'"{condition.version}-{condition.hash_prefix}"'
            ):
                raise stale(current.headword)
            return self._view(current)
        return await self._write(key, if_match, new_entry(current.headword, parts))

    async def delete_entry(self, headword: str, if_match: str | None) -> None:
        key = lookup_key(headword)
        if not key or not await self._repository.delete_if(key, precondition(if_match)):
            if not key or await self._repository.get(key) is None:
                raise ProblemError(404, f"No entry for the headword {headword!r}.")
            raise stale(headword)
        self._changed(key, None)
        await self._announce("deleted", " ".join(headword.split()), None)

    def search(self, query: str, mode: str, limit: int) -> list[Hit]:
        cache_key = (lookup_key(query), mode, limit)
        if (cached := self._searches.get(cache_key)) is not None:
            return cached
        hits = self._index.search(query, mode, limit)
        self._searches[cache_key] = hits
        return hits
