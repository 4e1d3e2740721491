"""Business rules of the words domain: entry lookup with caching, headword pages, search."""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import TTLCache
from pydantic import TypeAdapter

from lexica._generated.models import Entry, PartOfSpeechSection
from lexica.platform.pagination import CursorCodec
from lexica.platform.reply import Serialised
from lexica.words.keys import lookup_key
from lexica.words.repository import HeadwordRow, StoredEntry, WordRepository
from lexica.words.search_index import Hit, SearchIndex

_SECTIONS = TypeAdapter(list[PartOfSpeechSection])


@dataclass(frozen=True, slots=True)
class EntryView:
    etag: str  # quoted, strong
    body: Serialised[Entry]


@dataclass(frozen=True, slots=True)
class HeadwordSlice:
    rows: list[HeadwordRow]
    next_cursor: str | None


def entity_tag(entry: StoredEntry) -> str:
    """Strong ETag from the entry's version and a digest of its content: changes whenever either does."""
    return f'"{entry.version}-{entry.content_hash[:16]}"'


class WordService:
    def __init__(
        self,
        repository: WordRepository,
        cursors: CursorCodec,
        *,
        cache_size: int,
        cache_ttl_seconds: float,
    ) -> None:
        self._repository = repository
        self._cursors = cursors
        self._cache: TTLCache[str, EntryView] | None = (
            TTLCache(maxsize=cache_size, ttl=cache_ttl_seconds) if cache_size > 0 else None
        )
        self._index = SearchIndex([])
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

    async def entry(self, headword: str) -> EntryView | None:
        key = lookup_key(headword)
        if not key:
            return None
        if self._cache is not None and (cached := self._cache.get(key)) is not None:
            return cached
        stored = await self._repository.get(key)
        if stored is None:
            return None
        entry = Entry(
            headword=stored.headword,
            version=stored.version,
            parts_of_speech=_SECTIONS.validate_json(stored.content),
        )
        view = EntryView(etag=entity_tag(stored), body=Serialised.of(entry))
        if self._cache is not None:
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

    def search(self, query: str, mode: str, limit: int) -> list[Hit]:
        cache_key = (lookup_key(query), mode, limit)
        if (cached := self._searches.get(cache_key)) is not None:
            return cached
        hits = self._index.search(query, mode, limit)
        self._searches[cache_key] = hits
        return hits
