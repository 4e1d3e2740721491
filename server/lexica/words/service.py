"""Business rules of the words domain: entry lookup with caching, headword pages, search.

Each instance caches entries, headword pages and searches in process. A write made here forgets what it changed at
once; one made elsewhere arrives as an event (`lexica.words.coherence`), and `changed_elsewhere` or `forget_cached`
does the same. Concurrent misses of one entry share one storage read (single-flight), and no read that a change
overtook is cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Final, TypeVar

from cachetools import TTLCache
from pydantic import TypeAdapter

from lexica._generated.events import EntryChange, EntryChanged
from lexica._generated.models import Entry, EntryLink, PartOfSpeechSection
from lexica.platform.etags import parse_if_match
from lexica.platform.event_messages import PENDING_ID, announce
from lexica.platform.events import Publisher
from lexica.platform.metrics import CacheCounts
from lexica.platform.pagination import CursorCodec, Keyset
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.reply import Serialised
from lexica.platform.threads import in_daemon_thread
from lexica.words.hot_set import SAMPLE_EVERY, Popularity
from lexica.words.keys import lookup_key, unusable_headword
from lexica.words.meaning import Corpus, query_terms, rank, relative_scores, selecting_terms, snippet
from lexica.words.related import RelatedPage, entry_links, related_page, resolved
from lexica.words.repository import HeadwordRow, IndexRow, NewEntry, Precondition, StoredEntry, WordRepository
from lexica.words.search_index import Hit, Method, SearchIndex

ENTRIES_TOPIC: Final = "entries"  # AsyncAPI: `entry.changed` after every write through the API
DICTIONARY_TOPIC = "dictionary"  # internal (not a WebSocket topic): an import changed entries, forget everything
_SECTIONS = TypeAdapter(list[PartOfSpeechSection])
_SAMPLED = SAMPLE_EVERY - 1


ABSENT_MEMO_SIZE = 4096
CORPUS_SECONDS = 300.0  # how long reverse lookup trusts its entry count and average definition length


@dataclass(frozen=True, slots=True)
class EntryView:
    etag: str  # quoted, strong
    body: Serialised[Entry]
    # The keys its text names (`lexica.words.links`), linked or not: when one of them is created or deleted, the
    # cached view is dropped, so that its `links` follow.
    names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HeadwordSlice:
    rows: list[HeadwordRow]
    next_cursor: str | None


@dataclass(slots=True)
class CacheStats:
    """The entry cache's counters since start-up (lookups that may be answered from the cache)."""

    hits: int = 0
    misses: int = 0
    reads: int = 0  # storage reads for misses: fewer than misses when concurrent misses of one key share one

    @property
    def hit_ratio(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


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


def weight_of(parts: Sequence[PartOfSpeechSection]) -> int:
    """How many definitions the entry has: the search index ranks commoner words by it."""
    return sum(len(part.definitions) for part in parts)


def new_entry(headword: str, parts: list[PartOfSpeechSection]) -> NewEntry:
    display = " ".join(headword.split())
    key = lookup_key(display)
    if (reason := unusable_headword(display)) is not None:
        raise validation_problem(reason, field_error(["body", "headword"], reason, "empty" if not key else "reserved"))
    content = _SECTIONS.dump_json(parts)
    return NewEntry(
        key=key,
        headword=display,
        content=content.decode(),
        content_hash=hashlib.sha256(content).hexdigest(),
        weight=weight_of(parts),
    )


KeyT = TypeVar("KeyT", bound=Hashable)
ResultT = TypeVar("ResultT")


async def _shared(
    flights: dict[KeyT, asyncio.Future[ResultT]], key: KeyT, read: Callable[[], Awaitable[ResultT]]
) -> ResultT:
    """Concurrent misses of one key wait for one storage read (single-flight); a waiter that gives up (its request
    was cancelled) does not cancel the read for the others."""
    flight = flights.get(key)
    if flight is None:
        flight = asyncio.ensure_future(read())
        flights[key] = flight
        flight.add_done_callback(partial(_landed, flights, key))
    return await asyncio.shield(flight)


def _landed(flights: dict[KeyT, asyncio.Future[ResultT]], key: KeyT, flight: asyncio.Future[ResultT]) -> None:
    if flights.get(key) is flight:
        del flights[key]
    if not flight.cancelled():
        flight.exception()  # marked retrieved: a failure reaches every waiter, never logged as lost


class WordService:
    def __init__(
        self,
        repository: WordRepository,
        cursors: CursorCodec,
        *,
        cache_size: int,
        cache_ttl_seconds: float,
        events: Publisher | None = None,
        hot_set_size: int = 1000,
    ) -> None:
        """`hot_set_size`: how many of the most requested keys `popularity` must rank (it keeps a few times more)."""
        self._repository = repository
        self._cursors = cursors
        self._cache: TTLCache[str, EntryView] | None = (
            TTLCache(maxsize=cache_size, ttl=cache_ttl_seconds) if cache_size > 0 else None
        )
        self._events = events
        self._index = SearchIndex([])
        # Bumped by every change this instance hears of; a read that started before one is not cached.
        self._generation = 0
        self._flights: dict[str, asyncio.Future[EntryView | None]] = {}  # storage reads in progress, by key
        self._page_flights: dict[tuple[str, str | None, int], asyncio.Future[HeadwordSlice]] = {}
        self._announced: deque[str] = deque(maxlen=64)  # ids of the latest events published here
        self.stats = CacheStats()
        self.popularity = Popularity(capacity=max(2 * hot_set_size, 1))
        # Listing pages and search results are cached as briefly as their Cache-Control allows (60 s).
        # Keys read and found absent, with the generation they were read in: until the next change, a lookup of one
        # is answered without another read (a misspelt headword asked again and again; the fast path's miss that
        # the stack then answers with its 404); for no longer than an entry stays cached.
        self._absent: TTLCache[str, int] = TTLCache(maxsize=ABSENT_MEMO_SIZE, ttl=cache_ttl_seconds)
        self._pages: TTLCache[tuple[str, str | None, int], HeadwordSlice] = TTLCache(maxsize=4096, ttl=60)
        self._searches: TTLCache[tuple[str, str, int], list[Hit]] = TTLCache(maxsize=4096, ttl=60)
        self._corpus: tuple[float, Corpus] | None = None  # (when read, what): reverse lookup's BM25 statistics
        # Key -> the cached entries whose text names it: when that key's entry is created or deleted, their `links`
        # change, and they are dropped (a scan of 20,000 cached entries per write would take ~60 ms).
        self._naming: dict[str, set[str]] = {}
        self._naming_bound = 4 * max(cache_size, 1)

    @property
    def generation(self) -> int:
        """Bumped by every change this instance hears of: an answer made from an older generation may be stale."""
        return self._generation

    def cache_counts(self) -> CacheCounts:
        """The entry cache's counters since start-up and how many entries it holds (for the metrics)."""
        stats = self.stats
        held = len(self._cache) if self._cache is not None else 0
        return CacheCounts(hits=stats.hits, misses=stats.misses, reads=stats.reads, entries=held)

    @property
    def index(self) -> SearchIndex:
        return self._index

    async def rebuild_index(self) -> int:
        """Reload the search index from storage; returns the number of headwords indexed."""
        rows = await self._repository.index_rows()
        # Built in a thread: about a second of work that would otherwise stall every request on this instance; a
        # daemon one, so that a stopping instance does not wait for an index it will never use.
        self._index = await in_daemon_thread(partial(SearchIndex, rows), name="lexica-search-index")
        self._index_changed()
        # Cached entries' links were looked up in the previous index (`_links`).
        if self._cache is not None:
            self._cache.clear()
        self._naming.clear()
        return len(self._index)

    def _index_changed(self) -> None:
        """What was answered from the index before this moment may be stale: searches and pages kept here, and
        answers replayed under the current generation (`lexica.platform.replay`), taken while the index changed."""
        self._generation += 1
        self._searches.clear()
        self._pages.clear()

    async def entry(self, headword: str, *, fresh: bool = False) -> EntryView | None:
        """The entry, from this instance's cache unless `fresh` asks for the stored one (which refreshes the cache)."""
        key = lookup_key(headword)
        if not key:
            return None
        cache = self._cache
        if fresh or cache is None:
            return await self._read(key)
        if (cached := self._hit(cache, key)) is not None:
            return cached
        if self._absent.get(key) == self._generation:
            return None  # read a moment ago and not there; nothing has changed since
        stats = self.stats
        stats.misses += 1
        if not stats.misses & _SAMPLED:
            self.popularity.note(key)
        return await self._shared_read(key)

    def cached(self, headword: str) -> EntryView | None:
        """The entry if this instance's cache holds it (a hit, counted); None otherwise, with nothing counted and
        nothing read: the caller then asks `entry`, which counts the miss and reads."""
        cache = self._cache
        if cache is None or not (key := lookup_key(headword)):
            return None
        return self._hit(cache, key)

    def _hit(self, cache: TTLCache[str, EntryView], key: str) -> EntryView | None:
        try:
            cached = cache[key]  # one call where `get` makes two (`in`, then this)
        except KeyError:
            return None
        stats = self.stats
        stats.hits += 1
        if not stats.hits & _SAMPLED:
            self.popularity.note(key)
        return cached

    async def _shared_read(self, key: str) -> EntryView | None:
        return await _shared(self._flights, key, partial(self._read, key))

    async def _read(self, key: str) -> EntryView | None:
        """One storage read of the entry, cached unless a change overtook it (it may have read the old version)."""
        generation = self._generation
        self.stats.reads += 1
        stored = await self._repository.get(key)
        if stored is None:
            if self._cache is not None:
                self._cache.pop(key, None)
            if self._generation == generation:
                self._absent[key] = generation
            return None
        view = await self._view(stored)
        if self._cache is not None and self._generation == generation:
            self._cache[key] = view
            self._remember_names(key, view)
        return view

    async def warm(self, keys: Sequence[str]) -> int:
        """Load these entries into the cache (those not there already); how many it holds of them afterwards."""
        if self._cache is None:
            return 0
        for key in keys:
            if key not in self._cache:
                await self._read(key)  # not shared: cancelling the warming (at shutdown) must cancel its read
        return sum(1 for key in keys if key in self._cache)

    def heaviest(self, count: int) -> list[str]:
        """The keys of the `count` entries with the most definitions: the commonest words."""
        return self._index.heaviest(count)

    async def headwords(self, *, prefix: str | None, limit: int, cursor: str | None) -> HeadwordSlice:
        key_prefix = lookup_key(prefix or "")
        keyset = Keyset(self._cursors, f"words:{key_prefix}")
        after = keyset.start(cursor)
        cache_key = (key_prefix, after, limit)
        if (cached := self._pages.get(cache_key)) is not None:
            return cached
        # Concurrent misses of one page share one storage read, as entries do: a burst of requests for a page
        # nobody asked for in the last minute would otherwise queue that many reads on the database.
        return await _shared(self._page_flights, cache_key, partial(self._read_page, keyset, key_prefix, after, limit))

    async def _read_page(self, keyset: Keyset, key_prefix: str, after: str | None, limit: int) -> HeadwordSlice:
        generation = self._generation
        rows = await self._repository.list_headwords(prefix=key_prefix, after=after, limit=limit + 1)
        found = keyset.page(rows, limit, lambda row: row.key)
        page = HeadwordSlice(rows=found.rows, next_cursor=found.next_cursor)
        if self._generation == generation:
            self._pages[(key_prefix, after, limit)] = page
        return page

    async def _view(self, stored: StoredEntry) -> EntryView:
        entry = Entry(
            headword=stored.headword,
            version=stored.version,
            parts_of_speech=_SECTIONS.validate_json(stored.content),
            links=await self._links(stored),
        )
        named = frozenset(name.key for name in stored.names)
        return EntryView(etag=entity_tag(stored), body=Serialised.of(entry), names=named)

    async def _links(self, stored: StoredEntry) -> list[EntryLink]:
        """`Entry.links`: the names in the entry that have an entry, looked up in this instance's search index (kept
        in step with every change, as the cache is) once it is built, else in storage."""
        named = stored.names
        if not named:
            return []
        if len(self._index):
            headwords = self._index.headwords_of(name.key for name in named)
        else:
            headwords = await self._repository.headwords_of(sorted({name.key for name in named}))
        return entry_links(resolved(named, headwords))

    def _remember_names(self, key: str, view: EntryView) -> None:
        naming = self._naming
        for name in view.names:
            naming.setdefault(name, set()).add(key)
        if len(naming) > self._naming_bound and self._cache is not None:
            # Entries the cache evicted leave their names here; rebuilt from what it holds now (rare, amortised).
            naming.clear()
            for cached_key in list(self._cache):
                if (cached := self._cache.get(cached_key)) is not None:
                    for name in cached.names:
                        naming.setdefault(name, set()).add(cached_key)

    def _forget(self, key: str) -> None:
        """Drop what this instance holds of the entry: its cached copy, a read of it in flight, pages and searches,
        and the cached entries that name it (their links may change with it)."""
        self._generation += 1
        if (cache := self._cache) is not None:
            cache.pop(key, None)
            for naming in self._naming.pop(key, ()):
                cache.pop(naming, None)
        self._flights.pop(key, None)  # later misses read again rather than wait for a read that may be stale
        self._page_flights.clear()
        self._pages.clear()
        self._searches.clear()

    def _changed(self, key: str, stored: StoredEntry | None, weight: int = 0) -> None:
        """Keep this instance's caches and index in step with a write it made."""
        self._forget(key)
        if stored is None:
            self._index.remove(key)
        else:
            self._index.add(IndexRow(key=stored.key, headword=stored.headword, weight=weight))

    async def changed_elsewhere(self, headword: str, change: str) -> None:
        """Another instance changed the entry (`entry.changed`): forget it here and keep the search index in step."""
        key = lookup_key(headword)
        if not key:
            return
        self._forget(key)
        stored = None if change == "deleted" else await self._repository.get(key)
        if stored is None:
            self._index.remove(key)
        else:  # read for its weight; the next lookup caches it
            weight = weight_of(_SECTIONS.validate_json(stored.content))
            self._index.add(IndexRow(key=key, headword=stored.headword, weight=weight))
        # Again, with the index in step: an entry naming this one, read and cached during the read above, was
        # linked by the index without this change.
        self._forget(key)
        self._index_changed()  # a search answered during the read saw the index without this change

    def announced_here(self, event_id: str) -> bool:
        """Whether this instance published the event (its own change, which it has already taken into account)."""
        return event_id in self._announced

    async def _announce(self, change: EntryChange, headword: str, version: int | None) -> None:
        """`entry.changed` on the `entries` topic (AsyncAPI), for WebSocket subscribers and the caches of every
        instance."""
        if self._events is None:
            return
        message = EntryChanged(
            type="entry.changed",
            topic=ENTRIES_TOPIC,
            event_id=PENDING_ID,
            headword=headword,
            version=version,
            change=change,
            occurred_at=datetime.now(UTC),
        )
        if event_id := await announce(self._events, message):
            self._announced.append(event_id)

    def forget_cached(self) -> None:
        """Drop every cached entry, page and search (the dictionary changed under this instance)."""
        self._generation += 1
        if self._cache is not None:
            self._cache.clear()
        self._naming.clear()
        self._flights.clear()
        self._page_flights.clear()
        self._pages.clear()
        self._searches.clear()

    async def create_entry(self, headword: str, parts: list[PartOfSpeechSection]) -> EntryView:
        new = new_entry(headword, parts)
        stored = await self._repository.create(new)
        if stored is None:
            raise ProblemError(409, f"The headword {new.headword!r} already exists.", slug="conflict", title="Conflict")
        self._changed(new.key, stored, new.weight)
        await self._announce(EntryChange.CREATED, stored.headword, stored.version)
        return await self._view(stored)

    async def _write(self, key: str, if_match: str | None, new: NewEntry) -> EntryView:
        stored = await self._repository.replace_if(key, precondition(if_match), new)
        if stored is None:
            if await self._repository.get(key) is None:
                raise ProblemError(404, f"No entry for the headword {new.headword!r}.")
            raise stale(new.headword)
        self._changed(key, stored, new.weight)
        await self._announce(EntryChange.UPDATED, stored.headword, stored.version)
        return await self._view(stored)

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
            return await self._view(current)
        return await self._write(key, if_match, new_entry(current.headword, parts))

    async def delete_entry(self, headword: str, if_match: str | None) -> None:
        key = lookup_key(headword)
        if not key or not await self._repository.delete_if(key, precondition(if_match)):
            if not key or await self._repository.get(key) is None:
                raise ProblemError(404, f"No entry for the headword {headword!r}.")
            raise stale(headword)
        self._changed(key, None)
        await self._announce(EntryChange.DELETED, " ".join(headword.split()), None)

    async def related(self, headword: str, *, limit: int, cursor: str | None) -> RelatedPage | None:
        """The entries the entry names, and a page of those that name it; None when there is no such entry."""
        key = lookup_key(headword)
        stored = await self._repository.get(key) if key else None
        if stored is None:
            return None
        return await related_page(
            self._repository, Keyset(self._cursors, f"related:{key}"), stored, cursor=cursor, limit=limit
        )

    async def find(self, query: str, mode: str, limit: int) -> list[Hit]:
        """The search box: the spelling methods from this instance's index, `meaning` (reverse lookup) from storage,
        and `auto`, which cascades: the exact word if it is there; else, for a description (several words), the
        headwords it describes, then close spellings; for one word, its completions and close spellings, then the
        headwords whose definitions use it."""
        if mode == "meaning":
            return await self.by_meaning(query, limit)
        spelt = self.search(query, mode, limit)
        if mode != "auto" or (spelt and spelt[0].method is Method.EXACT):
            return spelt
        meant = await self.by_meaning(query, limit)
        first, then = (meant, spelt) if len(query.split()) > 1 else (spelt, meant)
        found = {hit.key for hit in first}
        return (first + [hit for hit in then if hit.key not in found])[:limit]

    async def by_meaning(self, query: str, limit: int) -> list[Hit]:
        """Reverse lookup: headwords whose definitions match the description's words, best first (BM25), each with
        the definition that matched."""
        terms = query_terms(query)
        cache_key = (" ".join(terms), Method.MEANING.value, limit)
        if not terms:
            return []
        if (cached := self._searches.get(cache_key)) is not None:
            return cached
        generation = self._generation
        holding = await self._repository.meaning_holding(terms)
        corpus = await self._meaning_corpus()
        candidates = await self._repository.meaning_candidates(selecting_terms(terms, holding))
        ranked = rank(terms, candidates, holding, corpus, limit)
        hits = []
        for found, score in zip(ranked, relative_scores(ranked, terms, holding, corpus), strict=True):
            stored = await self._repository.get(found.key)
            if stored is not None:  # deleted in between: left out
                matched = snippet(stored.content, terms)
                hits.append(Hit(found.key, found.headword, round(score, 4), Method.MEANING, matched))
        if generation == self._generation:  # nothing changed while we read: the answer may be kept
            self._searches[cache_key] = hits
        return hits

    async def _meaning_corpus(self) -> Corpus:
        """How many entries and their average length, for BM25: read once every `CORPUS_SECONDS` (a scan; the
        figures move by a fraction of a percent with each import or edit)."""
        now = time.monotonic()
        if self._corpus is None or now - self._corpus[0] > CORPUS_SECONDS:
            self._corpus = (now, await self._repository.meaning_corpus())
        return self._corpus[1]

    def search(self, query: str, mode: str, limit: int) -> list[Hit]:
        """The spelling methods (exact, prefix, fuzzy, and `auto` of the three) over this instance's index."""
        cache_key = (lookup_key(query), mode, limit)
        if (cached := self._searches.get(cache_key)) is not None:
            return cached
        hits = self._index.search(query, mode, limit)
        self._searches[cache_key] = hits
        return hits
