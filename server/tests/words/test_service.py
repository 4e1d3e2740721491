"""The entry cache of `WordService`: single-flight misses, reads overtaken by a change, changes made elsewhere, and
its hit and miss counters (over GCIDE's letter X, read through a repository that counts and holds reads)."""

from __future__ import annotations

import asyncio

import pytest

from lexica.words.repository import Precondition, StoredEntry
from lexica.words.service import WordService, new_entry
from tests.words.conftest import CountingRepository, parts

WORD = "xanthic"


async def rewrite(repository: CountingRepository, headword: str, text: str) -> StoredEntry:
    """A change made behind the service's back, as another instance makes it."""
    stored = await repository.replace_if(headword, Precondition(), new_entry(headword, parts(text)))
    assert stored is not None
    return stored


async def test_concurrent_misses_of_one_entry_make_one_storage_read(
    words: WordService, repository: CountingRepository
) -> None:
    repository.hold()
    lookups = [asyncio.create_task(words.entry(WORD)) for _ in range(50)]
    await repository.held(1)
    repository.release()
    views = await asyncio.gather(*lookups)

    assert repository.reads == 1
    assert {id(view) for view in views} == {id(views[0])}
    assert views[0] is not None
    assert (words.stats.misses, words.stats.reads) == (50, 1)


async def test_a_waiter_cancelled_does_not_cancel_the_read_the_others_wait_for(
    words: WordService, repository: CountingRepository
) -> None:
    repository.hold()
    first, second = asyncio.create_task(words.entry(WORD)), asyncio.create_task(words.entry(WORD))
    await repository.held(1)
    first.cancel()
    repository.release()

    assert (await second) is not None
    assert first.cancelled()
    assert repository.reads == 1
    assert (await words.entry(WORD)) is (await second)  # the shared read was cached


async def test_a_failed_read_reaches_every_waiter_and_the_next_miss_reads_again(
    words: WordService, repository: CountingRepository
) -> None:
    repository.failures = 1
    repository.hold()
    lookups = [asyncio.create_task(words.entry(WORD)) for _ in range(3)]
    await repository.held(1)
    repository.release()
    outcomes = await asyncio.gather(*lookups, return_exceptions=True)

    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert (await words.entry(WORD)) is not None
    assert repository.reads == 2


async def test_a_read_a_change_overtook_is_not_cached(words: WordService, repository: CountingRepository) -> None:
    repository.hold()
    before = asyncio.create_task(words.entry(WORD))
    await repository.held(1)
    changed = await rewrite(repository, WORD, "Changed while a read was in flight.")
    notice = asyncio.create_task(words.changed_elsewhere(WORD, "updated"))  # as the change's event makes it
    await repository.held(2)
    repository.release()
    await notice
    old = await before

    assert old is not None
    assert f'"{changed.version}-' not in old.etag
    now = await words.entry(WORD)
    assert now is not None
    assert f'"{changed.version}-' in now.etag


async def test_a_miss_after_a_change_does_not_wait_for_a_read_begun_before_it(
    words: WordService, repository: CountingRepository
) -> None:
    repository.hold()
    before = asyncio.create_task(words.entry(WORD))
    await repository.held(1)
    changed = await rewrite(repository, WORD, "Changed after the first read began.")
    notice = asyncio.create_task(words.changed_elsewhere(WORD, "updated"))
    after = asyncio.create_task(words.entry(WORD))
    await repository.held(3)
    repository.release()

    await notice
    old, new = await before, await after
    assert old is not None
    assert new is not None
    assert f'"{changed.version}-' not in old.etag
    assert f'"{changed.version}-' in new.etag


async def test_an_entry_changed_elsewhere_is_served_as_it_now_is(
    words: WordService, repository: CountingRepository
) -> None:
    cached = await words.entry(WORD)
    changed = await rewrite(repository, WORD, "Changed on another instance.")
    assert (await words.entry(WORD)) is cached  # nothing told this instance yet

    await words.changed_elsewhere(WORD, "updated")

    now = await words.entry(WORD)
    assert now is not None
    assert f'"{changed.version}-' in now.etag
    assert b"Changed on another instance." in now.body.data


async def test_entries_created_and_deleted_elsewhere_enter_and_leave_the_search_index(
    words: WordService, repository: CountingRepository
) -> None:
    assert await repository.create(new_entry("xylozed", parts("Made elsewhere."))) is not None
    assert words.search("xylozed", "exact", 5) == []  # a search of this instance, cached
    await words.changed_elsewhere("xylozed", "created")
    assert [hit.headword for hit in words.search("xylozed", "exact", 5)] == ["xylozed"]

    await words.entry(WORD)
    assert await repository.delete_if(WORD, Precondition())
    await words.changed_elsewhere(WORD, "deleted")
    assert await words.entry(WORD) is None
    assert words.search(WORD, "exact", 5) == []


async def test_pages_and_searches_are_forgotten_when_an_entry_changes_elsewhere(
    words: WordService, repository: CountingRepository
) -> None:
    first = await words.headwords(prefix="xylo", limit=50, cursor=None)
    assert words.search("xylozed", "prefix", 5) == []
    assert await repository.create(new_entry("xylozed", parts("Made elsewhere."))) is not None
    await words.changed_elsewhere("xylozed", "created")

    page = await words.headwords(prefix="xylo", limit=50, cursor=None)
    assert "xylozed" not in [row.headword for row in first.rows]
    assert "xylozed" in [row.headword for row in page.rows]
    assert [hit.headword for hit in words.search("xyloze", "prefix", 5)] == ["xylozed"]


async def test_a_headword_page_read_while_a_change_arrives_is_not_cached(
    words: WordService, repository: CountingRepository
) -> None:
    repository.hold()
    before = asyncio.create_task(words.headwords(prefix="xylo", limit=50, cursor=None))
    await repository.held(1)
    assert await repository.create(new_entry("xylozed", parts("Made elsewhere."))) is not None
    notice = asyncio.create_task(words.changed_elsewhere("xylozed", "created"))
    await repository.held(2)
    repository.release()
    await notice
    old = await before

    page = await words.headwords(prefix="xylo", limit=50, cursor=None)
    assert "xylozed" not in [row.headword for row in old.rows]
    assert "xylozed" in [row.headword for row in page.rows]


async def test_concurrent_misses_of_one_headword_page_make_one_storage_read(
    words: WordService, repository: CountingRepository
) -> None:
    repository.hold()
    pages = [asyncio.create_task(words.headwords(prefix="xylo", limit=20, cursor=None)) for _ in range(50)]
    await repository.held(1)
    repository.release()
    results = await asyncio.gather(*pages)

    assert repository.page_reads == 1
    assert {id(page) for page in results} == {id(results[0])}
    await words.headwords(prefix="xylo", limit=20, cursor=None)  # cached now
    assert repository.page_reads == 1


async def test_forgetting_everything_drops_every_cached_entry(
    words: WordService, repository: CountingRepository
) -> None:
    await words.entry(WORD)
    words.forget_cached()
    await words.entry(WORD)
    assert repository.reads == 2


async def test_hits_and_misses_are_counted_and_fresh_reads_are_neither(words: WordService) -> None:
    for _ in range(4):
        await words.entry(WORD)
    await words.entry(WORD, fresh=True)
    await words.entry("no such word")

    assert (words.stats.hits, words.stats.misses, words.stats.reads) == (3, 2, 3)
    assert words.stats.hit_ratio == pytest.approx(3 / 5)


async def test_warming_loads_the_entries_named_and_says_how_many_it_holds(
    words: WordService, repository: CountingRepository
) -> None:
    assert await words.warm(["xanthic", "xanthin", "no such word"]) == 2
    await words.entry("xanthic")
    await words.entry("xanthin")
    assert (words.stats.hits, words.stats.misses) == (2, 0)


async def test_the_heaviest_entries_are_those_with_the_most_definitions(words: WordService) -> None:
    await words.create_entry("xxheavy", parts("one") * 40)
    assert words.heaviest(1) == ["xxheavy"]
    assert len(words.heaviest(5)) == 5
