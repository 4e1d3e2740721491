"""`ListRepository` conformance: version-conditional writes hold under concurrency, through the port only."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from lexica.auth.repository import AuthStorage, UserRecord
from lexica.lists.repository import (
    MAX_WORDS_PER_LIST,
    ListDetails,
    ListFull,
    ListRecord,
    ListRepository,
    ListWord,
    WordRemoved,
    WordsAdded,
)
from tests.storage.test_word_repository import AWKWARD_KEYS

NOW = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)  # milliseconds: what every backend keeps
LATER = NOW + timedelta(minutes=5, microseconds=654000)


async def add_owner(auth: AuthStorage) -> str:
    user_id = str(uuid.uuid4())
    user = UserRecord(user_id, f"{user_id}@lexica.test", None, "hash", "reader", NOW, None, False, None)
    assert await auth.users.create_user(user)
    return user_id


async def add_list(lists: ListRepository, owner_id: str, list_id: str | None = None, name: str = "Mine") -> ListRecord:
    record = ListRecord(
        id=list_id or uuid.uuid4().hex,
        owner_id=owner_id,
        name=name,
        description=None,
        public=False,
        version=1,
        word_count=0,
        created_at=NOW,
        updated_at=NOW,
    )
    await lists.create_list(record)
    return record


def word(key: str, headword: str | None = None) -> ListWord:
    return ListWord(key=key, headword=headword or key.title(), added_at=NOW)


async def all_words(lists: ListRepository, list_id: str) -> list[ListWord]:
    return await lists.list_words(list_id, after=None, limit=MAX_WORDS_PER_LIST + 1)


async def added(lists: ListRepository, list_id: str, version: int, *keys: str) -> WordsAdded:
    result = await lists.add_words_if(list_id, version, [word(key) for key in keys], LATER)
    assert result is not None
    return result


# lists


async def test_a_list_round_trips_with_aware_utc_datetimes(lists: ListRepository, auth: AuthStorage) -> None:
    owner = await add_owner(auth)
    record = ListRecord(uuid.uuid4().hex, owner, "Birds", "Seen in 2026 ✓", True, 1, 0, NOW, LATER)
    await lists.create_list(record)
    stored = await lists.get_list(record.id)
    assert stored is not None
    assert stored == record  # to the millisecond
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.updated_at.utcoffset() == timedelta(0)


async def test_a_missing_list_is_none_and_has_no_words(lists: ListRepository) -> None:
    assert await lists.get_list("missing") is None
    assert await lists.list_words("missing", after=None, limit=10) == []


async def test_lists_of_are_in_id_order_with_keyset_pages(lists: ListRepository, auth: AuthStorage) -> None:
    owner = await add_owner(auth)
    ids = [f"{n:032x}" for n in range(7)]
    for list_id in (ids[n] for n in (4, 0, 6, 2, 5, 1, 3)):
        await add_list(lists, owner, list_id)
    assert [r.id for r in await lists.lists_of(owner, after=None, limit=100)] == ids
    paged: list[str] = []
    after: str | None = None
    while page := await lists.lists_of(owner, after=after, limit=3):
        assert len(page) <= 3
        paged += [r.id for r in page]
        after = page[-1].id
    assert paged == ids


async def test_lists_of_an_owner_are_theirs_only(lists: ListRepository, auth: AuthStorage) -> None:
    ada, bob = await add_owner(auth), await add_owner(auth)
    adas = [await add_list(lists, ada, f"{n:032x}") for n in (1, 3)]
    bobs = [await add_list(lists, bob, f"{n:032x}") for n in (2, 4)]
    assert await lists.lists_of(ada, after=None, limit=10) == adas
    assert await lists.lists_of(bob, after=None, limit=10) == bobs
    assert await lists.lists_of(str(uuid.uuid4()), after=None, limit=10) == []


async def test_update_writes_the_details_and_bumps_the_version(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    updated = await lists.update_list_if(record.id, 1, ListDetails("Renamed", "Now shared", True), LATER)
    assert updated is not None
    assert (updated.name, updated.description, updated.public) == ("Renamed", "Now shared", True)
    assert (updated.version, updated.word_count, updated.created_at, updated.updated_at) == (2, 0, NOW, LATER)
    assert await lists.get_list(record.id) == updated
    cleared = await lists.update_list_if(record.id, 2, ListDetails("Renamed", None, False), LATER)
    assert cleared is not None
    assert (cleared.description, cleared.public, cleared.version) == (None, False, 3)


async def test_update_of_a_stale_or_missing_list_is_none(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    details = ListDetails("Other", None, True)
    assert await lists.update_list_if(record.id, 2, details, LATER) is None
    assert await lists.update_list_if("missing", 1, details, LATER) is None
    assert await lists.get_list(record.id) == record


async def test_delete_removes_the_list_and_its_words(lists: ListRepository, auth: AuthStorage) -> None:
    owner = await add_owner(auth)
    record = await add_list(lists, owner)
    await added(lists, record.id, 1, "one", "two")
    assert await lists.delete_list_if(record.id, 2)
    assert await lists.get_list(record.id) is None
    assert await lists.list_words(record.id, after=None, limit=10) == []
    assert await lists.lists_of(owner, after=None, limit=10) == []
    assert not await lists.delete_list_if(record.id, 2)


async def test_delete_of_a_stale_list_keeps_it(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    await added(lists, record.id, 1, "kept")
    assert not await lists.delete_list_if(record.id, 1)
    assert not await lists.delete_list_if("missing", 1)
    stored = await lists.get_list(record.id)
    assert stored is not None
    assert stored.version == 2
    assert [w.key for w in await all_words(lists, record.id)] == ["kept"]


# words


async def test_adding_words_counts_the_new_ones_and_bumps_the_version_once(
    lists: ListRepository, auth: AuthStorage
) -> None:
    record = await add_list(lists, await add_owner(auth))
    first = await lists.add_words_if(
        record.id, 1, [word("cat", "Cat"), word("dog"), word("cat", "CAT (second)"), word("emu")], LATER
    )
    assert first is not None
    assert first.added == 3
    assert (first.list.version, first.list.word_count, first.list.updated_at) == (2, 3, LATER)
    assert await lists.get_list(record.id) == first.list
    assert await all_words(lists, record.id) == [word("cat", "Cat"), word("dog"), word("emu")]  # the first kept
    second = await added(lists, record.id, 2, "dog", "fox", "fox", "cat")
    assert (second.added, second.list.version, second.list.word_count) == (1, 3, 4)
    assert [w.key for w in await all_words(lists, record.id)] == ["cat", "dog", "emu", "fox"]


async def test_adding_only_known_words_changes_nothing(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    before = (await added(lists, record.id, 1, "cat", "dog")).list
    again = await lists.add_words_if(record.id, 2, [word("dog"), word("cat"), word("dog")], LATER + timedelta(days=1))
    assert again == WordsAdded(list=before, added=0)
    nothing = await lists.add_words_if(record.id, 2, [], LATER + timedelta(days=1))
    assert nothing == WordsAdded(list=before, added=0)
    assert await lists.get_list(record.id) == before


async def test_adding_to_a_stale_or_missing_list_is_none(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    assert await lists.add_words_if(record.id, 2, [word("cat")], LATER) is None
    assert await lists.add_words_if("missing", 1, [word("cat")], LATER) is None
    assert await lists.get_list(record.id) == record
    assert await all_words(lists, record.id) == []


async def test_a_full_list_refuses_new_words_and_writes_nothing(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    keys = [f"word {n:05d}" for n in range(MAX_WORDS_PER_LIST - 1)]
    almost = await added(lists, record.id, 1, *keys)
    assert (almost.added, almost.list.word_count) == (MAX_WORDS_PER_LIST - 1, MAX_WORDS_PER_LIST - 1)
    with pytest.raises(ListFull):
        await lists.add_words_if(record.id, 2, [word("zz 1"), word("word 00000"), word("zz 2")], LATER)
    assert await lists.get_list(record.id) == almost.list
    assert await lists.list_words(record.id, after=keys[-1], limit=10) == []
    full = await added(lists, record.id, 2, "word 00000", "zz 1")  # duplicates do not count towards the limit
    assert (full.added, full.list.version, full.list.word_count) == (1, 3, MAX_WORDS_PER_LIST)
    assert (await added(lists, record.id, 3, "zz 1", "word 00001")).added == 0
    with pytest.raises(ListFull):
        await lists.add_words_if(record.id, 3, [word("zz 2")], LATER)
    assert await lists.get_list(record.id) == full.list
    assert len(await all_words(lists, record.id)) == MAX_WORDS_PER_LIST


async def test_removing_a_word_bumps_the_version_only_when_it_was_there(
    lists: ListRepository, auth: AuthStorage
) -> None:
    record = await add_list(lists, await add_owner(auth))
    await added(lists, record.id, 1, "cat", "dog")
    removed = await lists.remove_word_if(record.id, 2, "cat", LATER + timedelta(hours=1))
    assert removed is not None
    assert removed.removed
    assert (removed.list.version, removed.list.word_count) == (3, 1)
    assert removed.list.updated_at == LATER + timedelta(hours=1)
    assert await lists.get_list(record.id) == removed.list
    absent = await lists.remove_word_if(record.id, 3, "cat", LATER + timedelta(hours=2))
    assert absent == WordRemoved(list=removed.list, removed=False)
    assert [w.key for w in await all_words(lists, record.id)] == ["dog"]


async def test_removing_from_a_stale_or_missing_list_is_none(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    before = (await added(lists, record.id, 1, "cat")).list
    assert await lists.remove_word_if(record.id, 1, "cat", LATER) is None
    assert await lists.remove_word_if("missing", 1, "cat", LATER) is None
    assert await lists.get_list(record.id) == before
    assert [w.key for w in await all_words(lists, record.id)] == ["cat"]


async def test_words_are_listed_in_code_point_order_with_keyset_pages(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    other = await add_list(lists, record.owner_id)
    await added(lists, record.id, 1, *reversed(AWKWARD_KEYS))
    await added(lists, other.id, 1, "a", "zzz")
    assert [w.key for w in await all_words(lists, record.id)] == sorted(AWKWARD_KEYS)  # Python: code-point order
    paged: list[str] = []
    after: str | None = None
    while page := await lists.list_words(record.id, after=after, limit=4):
        assert len(page) <= 4
        paged += [w.key for w in page]
        after = page[-1].key
    assert paged == sorted(AWKWARD_KEYS)


async def test_words_keep_their_headword_and_time(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    stored = ListWord(key="ça va", headword="Ça va", added_at=LATER)
    assert await lists.add_words_if(record.id, 1, [stored], NOW) is not None
    [listed] = await all_words(lists, record.id)
    assert listed == stored
    assert listed.added_at.utcoffset() == timedelta(0)


# erasure


async def test_delete_lists_of_erases_one_owner_only(lists: ListRepository, auth: AuthStorage) -> None:
    ada, bob = await add_owner(auth), await add_owner(auth)
    adas = [await add_list(lists, ada) for _ in range(3)]
    await added(lists, adas[0].id, 1, "cat")
    bobs = await add_list(lists, bob)
    await added(lists, bobs.id, 1, "cat")
    assert await lists.delete_lists_of(ada) == 3
    assert await lists.lists_of(ada, after=None, limit=10) == []
    assert await lists.list_words(adas[0].id, after=None, limit=10) == []
    assert [r.id for r in await lists.lists_of(bob, after=None, limit=10)] == [bobs.id]
    assert [w.key for w in await all_words(lists, bobs.id)] == ["cat"]
    assert await lists.delete_lists_of(ada) == 0


async def test_deleting_the_owner_erases_their_lists(lists: ListRepository, auth: AuthStorage) -> None:
    owner, other = await add_owner(auth), await add_owner(auth)
    record = await add_list(lists, owner)
    await added(lists, record.id, 1, "cat")
    kept = await add_list(lists, other)
    assert await auth.users.delete_user(owner)
    assert await lists.get_list(record.id) is None
    assert await lists.lists_of(owner, after=None, limit=10) == []
    assert await lists.list_words(record.id, after=None, limit=10) == []
    assert await lists.get_list(kept.id) == kept


# concurrency


async def test_concurrent_adds_at_one_version_have_one_winner(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    keys = [f"word {n:02d}" for n in range(20)]
    results = await asyncio.gather(*(lists.add_words_if(record.id, 1, [word(key)], LATER) for key in keys))
    winners = [(key, result) for key, result in zip(keys, results, strict=True) if result is not None]
    assert len(winners) == 1
    [(key, result)] = winners
    assert (result.added, result.list.version, result.list.word_count) == (1, 2, 1)
    assert [w.key for w in await all_words(lists, record.id)] == [key]
    assert await lists.get_list(record.id) == result.list


async def test_concurrent_updates_at_one_version_have_one_winner(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    results = await asyncio.gather(
        *(lists.update_list_if(record.id, 1, ListDetails(f"Name {n}", None, False), LATER) for n in range(20))
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert winners[0].version == 2
    assert await lists.get_list(record.id) == winners[0]


async def test_concurrent_removes_at_one_version_have_one_winner(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    keys = [f"word {n:02d}" for n in range(20)]
    await added(lists, record.id, 1, *keys)
    results = await asyncio.gather(*(lists.remove_word_if(record.id, 2, key, LATER) for key in keys))
    winners = [(key, result) for key, result in zip(keys, results, strict=True) if result is not None]
    assert len(winners) == 1
    [(key, result)] = winners
    assert (result.removed, result.list.version, result.list.word_count) == (True, 3, 19)
    assert [w.key for w in await all_words(lists, record.id)] == [k for k in keys if k != key]


async def test_writers_that_retry_on_a_stale_version_all_land(lists: ListRepository, auth: AuthStorage) -> None:
    record = await add_list(lists, await add_owner(auth))
    writers = 10

    async def write(key: str) -> None:
        while True:
            current = await lists.get_list(record.id)
            assert current is not None
            if await lists.add_words_if(record.id, current.version, [word(key)], LATER) is not None:
                return

    keys = [f"writer {n}" for n in range(writers)]
    await asyncio.gather(*(write(key) for key in keys))
    stored = await lists.get_list(record.id)
    assert stored is not None
    assert (stored.version, stored.word_count) == (1 + writers, writers)
    assert [w.key for w in await all_words(lists, record.id)] == keys
