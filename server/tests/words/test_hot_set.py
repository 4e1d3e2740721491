"""The hot set: sampled lookup counts, kept in a file (or Redis) across restarts and warmed into the cache at start-up;
the commonest headwords stand in for it the first time."""

from __future__ import annotations

import json
from pathlib import Path

from bench.services import RedisServer
from lexica.platform.redis_client import RedisOptions, redis_client
from lexica.words.hot_set import SAMPLE_EVERY, FileHotSetStore, Popularity, RedisHotSetStore, keeping_hot_set
from lexica.words.service import WordService
from tests.conftest import _client, make_settings
from tests.words.conftest import CountingRepository, parts


async def test_the_most_noted_keys_come_first_and_the_rarest_are_dropped() -> None:
    popularity = Popularity(capacity=2)
    for key, times in (("apple", 3), ("pear", 5), ("fig", 1), ("plum", 1), ("kiwi", 1), ("lime", 1)):
        for _ in range(times):
            popularity.note(key)

    assert popularity.top(2) == ["pear", "apple"]
    assert len(popularity.top(100)) <= 4


async def test_a_saved_ranking_seeds_the_counts_and_real_lookups_overtake_it() -> None:
    popularity = Popularity()
    popularity.seed(["apple", "pear"])
    assert popularity.top(2) == ["apple", "pear"]
    popularity.note("pear")
    assert popularity.top(2) == ["pear", "apple"]


async def test_the_file_store_keeps_a_ranking_and_reads_garbage_as_nothing(tmp_path: Path) -> None:
    store = FileHotSetStore(tmp_path / "var" / "hot.json")
    assert await store.load() == []
    await store.save(["apple", "pear"])
    assert await store.load() == ["apple", "pear"]
    (tmp_path / "var" / "hot.json").write_text('{"not": "a list"}')
    assert await store.load() == []


async def test_the_redis_store_keeps_a_ranking(killable_redis: RedisServer) -> None:
    redis = redis_client(killable_redis.url, RedisOptions())
    try:
        store = RedisHotSetStore(redis)
        assert await store.load() == []
        await store.save(["apple", "pear"])
        assert await store.load() == ["apple", "pear"]
    finally:
        await redis.aclose()


async def test_start_up_warms_the_saved_hot_set_and_shutdown_saves_the_new_ranking(
    words: WordService, repository: CountingRepository, tmp_path: Path
) -> None:
    store = FileHotSetStore(tmp_path / "hot.json")
    await store.save(["xanthin", "xanthic"])

    async with keeping_hot_set(words, store, count=10) as warming:
        assert warming is not None
        assert await warming == 2
        for _ in range(SAMPLE_EVERY * 3):
            await words.entry("xanthate")  # one lookup in SAMPLE_EVERY counted: more than the saved keys' one each

    assert repository.reads == 3
    assert (await store.load())[:3] == ["xanthate", "xanthin", "xanthic"]


async def test_without_a_saved_hot_set_the_commonest_headwords_are_warmed(
    words: WordService, repository: CountingRepository, tmp_path: Path
) -> None:
    await words.create_entry("xxcommon", parts("sense") * 50)
    async with keeping_hot_set(words, FileHotSetStore(tmp_path / "hot.json"), count=3) as warming:
        assert warming is not None
        assert await warming == 3
    await words.entry("xxcommon")
    assert words.stats.hits == 1


async def test_no_warming_when_the_count_is_zero(words: WordService, tmp_path: Path) -> None:
    async with keeping_hot_set(words, FileHotSetStore(tmp_path / "hot.json"), count=0) as warming:
        assert warming is None
    assert not (tmp_path / "hot.json").exists()


async def test_the_app_keeps_its_hot_set_in_a_file_across_restarts(letter_a_database: str, tmp_path: Path) -> None:
    hot = tmp_path / "hot.json"
    settings = make_settings(letter_a_database, entry_cache_warm_count=10, hot_headwords_file=hot)
    async for client in _client(settings):
        for _ in range(SAMPLE_EVERY * 2):
            assert (await client.get("/api/v1/words/apple")).status_code == 200
    assert json.loads(hot.read_text())[0] == "apple"

    async for client in _client(settings):  # warmed with it, then saved again
        assert (await client.get("/api/v1/words/apple")).status_code == 200
    assert json.loads(hot.read_text())[0] == "apple"
