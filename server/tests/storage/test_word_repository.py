"""`WordRepository` conformance: the same behaviour on every storage backend, through the port only."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from lexica.words.importing import import_entries
from lexica.words.repository import NewEntry, Precondition, UpsertCounts, WordRepository

# Keys whose code-point order differs from a linguistic collation's (spaces, punctuation, digits, non-ASCII).
AWKWARD_KEYS = [
    "a",
    "a b",
    "a'b",
    "a-b",
    "a/b",
    "a1",
    "ab",
    "abc",
    "b",
    "ca",
    "cañon",
    "ça va",
    "o'clock",
    "oclock",
    "straße",
    "strasse",
    "é",
    "éa",
    "e",
    "z",
    "24/7",
    "9/11",
    "zz top",
]


def entry(key: str, content: str = "[]", weight: int = 1) -> NewEntry:
    digest = hashlib.sha256(f"{key}\x00{content}".encode()).hexdigest()
    return NewEntry(key=key, headword=key.title(), content=content, content_hash=digest, weight=weight)


async def test_create_get_replace_delete(words: WordRepository) -> None:
    created = await words.create(entry("lexicon"))
    assert created is not None
    assert created.version == 1
    assert await words.get("lexicon") == created
    replaced = await words.replace_if("lexicon", Precondition(version=1), entry("lexicon", '[{"pos": "n"}]'))
    assert replaced is not None
    assert (replaced.version, replaced.content) == (2, '[{"pos": "n"}]')
    assert await words.get("lexicon") == replaced
    assert await words.delete_if("lexicon", Precondition(version=2, hash_prefix=replaced.content_hash[:8]))
    assert await words.get("lexicon") is None
    assert await words.count() == 0


async def test_keys_are_unique(words: WordRepository) -> None:
    assert await words.create(entry("unique")) is not None
    assert await words.create(entry("unique", "[1]")) is None
    assert await words.count() == 1


async def test_conditional_writes_refuse_a_stale_precondition(words: WordRepository) -> None:
    stored = await words.create(entry("stale"))
    assert stored is not None
    assert await words.replace_if("stale", Precondition(version=2), entry("stale", "[1]")) is None
    assert await words.replace_if("stale", Precondition(hash_prefix="0" * 8), entry("stale", "[1]")) is None
    assert not await words.delete_if("stale", Precondition(version=7))
    assert not await words.delete_if("missing", Precondition())
    assert await words.get("stale") == stored


async def test_listing_is_in_code_point_order(words: WordRepository) -> None:
    await import_entries(words, [entry(key) for key in reversed(AWKWARD_KEYS)])
    listed = [row.key for row in await words.list_headwords(prefix="", after=None, limit=100)]
    assert listed == sorted(AWKWARD_KEYS)  # Python compares str by code point
    assert [row.key for row in await words.index_rows()] == sorted(AWKWARD_KEYS)


async def test_keyset_pages_cover_every_key_once_in_order(words: WordRepository) -> None:
    await import_entries(words, [entry(key) for key in AWKWARD_KEYS])
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await words.list_headwords(prefix="", after=after, limit=4)
        if not page:
            break
        seen += [row.key for row in page]
        after = page[-1].key
    assert seen == sorted(AWKWARD_KEYS)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a", ["a", "a b", "a'b", "a-b", "a/b", "a1", "ab", "abc"]),
        ("a ", ["a b"]),
        ("ab", ["ab", "abc"]),
        ("stra", ["strasse", "straße"]),
        ("é", ["é", "éa"]),
        ("9/", ["9/11"]),
        ("q", []),
    ],
)
async def test_prefix_listing_with_keyset_pages(words: WordRepository, prefix: str, expected: list[str]) -> None:
    await import_entries(words, [entry(key) for key in AWKWARD_KEYS])
    assert [row.key for row in await words.list_headwords(prefix=prefix, after=None, limit=100)] == expected
    paged: list[str] = []
    after: str | None = None
    while page := await words.list_headwords(prefix=prefix, after=after, limit=1):
        paged.append(page[0].key)
        after = page[0].key
    assert paged == expected


async def test_bulk_import_is_idempotent(words: WordRepository) -> None:
    batch = [entry(f"word {n:04d}", weight=n) for n in range(1_200)]
    first = await import_entries(words, batch, batch_size=500)
    assert first.counts == UpsertCounts(inserted=1_200)
    second = await import_entries(words, batch, batch_size=500)
    assert second.counts == UpsertCounts(unchanged=1_200)
    changed = [entry("word 0007", "[7]"), entry("word 9999")]
    third = await import_entries(words, changed)
    assert third.counts == UpsertCounts(inserted=1, updated=1)
    stored = await words.get("word 0007")
    assert stored is not None
    assert (stored.version, stored.content) == (2, "[7]")
    assert await words.count() == 1_201


async def test_headwords_of_the_keys_that_exist(words: WordRepository) -> None:
    await import_entries(words, [entry(f"word {n:04d}") for n in range(1_100)] + [entry(key) for key in AWKWARD_KEYS])
    asked = [f"word {n:04d}" for n in range(0, 1_200, 2)] + ["missing", *AWKWARD_KEYS, "a"]  # >1 chunk, repeats
    expected = {f"word {n:04d}": f"Word {n:04d}" for n in range(0, 1_100, 2)} | {k: k.title() for k in AWKWARD_KEYS}
    assert await words.headwords_of(asked) == expected
    assert await words.headwords_of([]) == {}
    assert await words.headwords_of(["missing"]) == {}


async def test_an_import_keeps_edited_entries_and_reports_them(words: WordRepository) -> None:
    await import_entries(words, [entry("apple"), entry("pear")])
    apple = await words.get("apple")
    assert apple is not None
    assert (apple.source, apple.edited) == ("gcide", False)
    edited = await words.replace_if("apple", Precondition(version=1), entry("apple", "[1]"))
    assert edited is not None
    assert (edited.version, edited.source, edited.edited) == (2, "gcide", True)
    assert await words.get("apple") == edited

    again = await import_entries(words, [entry("apple"), entry("pear")])
    assert again.counts == UpsertCounts(unchanged=1, skipped_edited=1, conflicts=("Apple",))
    assert await words.get("apple") == edited  # the editor's content, version and ETag

    newer = await import_entries(words, [entry("apple", "[2]"), entry("pear", "[2]")])
    assert newer.counts == UpsertCounts(updated=1, skipped_edited=1, conflicts=("Apple",))
    assert await words.get("apple") == edited
    pear = await words.get("pear")
    assert pear is not None
    assert (pear.version, pear.content, pear.edited) == (2, "[2]", False)


async def test_overwrite_edited_lets_the_import_win(words: WordRepository) -> None:
    await import_entries(words, [entry("apple"), entry("pear")])
    assert await words.replace_if("apple", Precondition(), entry("apple", "[1]")) is not None
    assert await words.replace_if("pear", Precondition(), entry("pear", "[1]")) is not None
    won = await import_entries(words, [entry("apple", "[2]"), entry("pear", "[1]")], overwrite_edited=True)
    assert won.counts == UpsertCounts(updated=1, unchanged=1)
    apple = await words.get("apple")
    assert apple is not None
    assert (apple.version, apple.content, apple.source, apple.edited) == (3, "[2]", "gcide", False)
    pear = await words.get("pear")  # same content as the import's: not written, still the editor's version
    assert pear is not None
    assert (pear.version, pear.edited) == (2, True)


async def test_entries_record_where_they_came_from(words: WordRepository) -> None:
    created = await words.create(entry("neologism", "[1]"))
    assert created is not None
    assert (created.source, created.edited) == ("api", True)
    assert await words.get("neologism") == created
    uploaded = await import_entries(words, [entry("neologism", "[2]"), entry("upload")], source="upload")
    assert uploaded.counts == UpsertCounts(inserted=1, skipped_edited=1, conflicts=("Neologism",))
    assert await words.get("neologism") == created
    upload = await words.get("upload")
    assert upload is not None
    assert (upload.source, upload.edited) == ("upload", False)
    # An import that changes an entry another import made takes it over.
    replaced = await import_entries(words, [entry("upload", "[3]")], source="gcide")
    assert replaced.counts == UpsertCounts(updated=1)
    upload = await words.get("upload")
    assert upload is not None
    assert (upload.version, upload.source, upload.edited) == (2, "gcide", False)
    page = await words.entries_page(after=None, limit=10)
    assert [(e.key, e.source, e.edited) for e in page] == [("neologism", "api", True), ("upload", "gcide", False)]


async def test_an_import_never_overwrites_an_edit_made_while_it_runs(words: WordRepository) -> None:
    """Edits race an import of changed content: whichever lands first, every entry ends as its editor left it,
    and the import's report accounts for every entry (updated before the edit, or skipped after it)."""
    keys = [f"race {n:03d}" for n in range(120)]
    await import_entries(words, [entry(key) for key in keys])

    async def edit(key: str) -> None:
        assert await words.replace_if(key, Precondition(), entry(key, '["editor"]')) is not None

    async def reimport() -> UpsertCounts:
        result = await import_entries(words, [entry(key, '["import"]') for key in keys], batch_size=10)
        return result.counts

    counts, *_ = await asyncio.gather(reimport(), *(edit(key) for key in keys))
    assert isinstance(counts, UpsertCounts)
    assert counts.updated + counts.skipped_edited == len(keys)
    assert counts.inserted == counts.unchanged == 0
    for key in keys:
        stored = await words.get(key)
        assert stored is not None
        assert (stored.content, stored.edited) == ('["editor"]', True), key


async def test_an_import_does_not_bring_back_a_deleted_entry(words: WordRepository) -> None:
    await import_entries(words, [entry("apple"), entry("pear")])
    assert await words.delete_if("apple", Precondition(version=1))

    again = await import_entries(words, [entry("apple"), entry("pear")])
    assert again.counts == UpsertCounts(unchanged=1, skipped_edited=1, conflicts=("Apple",))
    assert await words.get("apple") is None
    uploaded = await import_entries(words, [entry("apple", "[2]")], source="upload")
    assert uploaded.counts == UpsertCounts(skipped_edited=1, conflicts=("Apple",))
    assert await words.get("apple") is None

    restored = await import_entries(words, [entry("apple")], overwrite_edited=True)
    assert restored.counts == UpsertCounts(inserted=1)
    apple = await words.get("apple")
    assert apple is not None
    assert (apple.version, apple.source, apple.edited) == (1, "gcide", False)
    # Brought back by an import, it is an imported entry again: the next import keeps it up to date.
    assert (await import_entries(words, [entry("apple", "[3]")])).counts == UpsertCounts(updated=1)


async def test_an_entry_created_again_through_the_api_is_no_longer_a_tombstone(words: WordRepository) -> None:
    await import_entries(words, [entry("apple")])
    assert await words.delete_if("apple", Precondition())
    assert await words.create(entry("apple", "[1]")) is not None
    assert await words.delete_if("apple", Precondition(version=1))
    assert (await import_entries(words, [entry("apple")])).counts == UpsertCounts(
        skipped_edited=1, conflicts=("Apple",)
    )
    assert await words.create(entry("apple", "[1]")) is not None
    # The created entry is an editor's: kept, as any edited entry; and deleted no more.
    assert (await import_entries(words, [entry("apple")])).counts == UpsertCounts(
        skipped_edited=1, conflicts=("Apple",)
    )
    apple = await words.get("apple")
    assert apple is not None
    assert (apple.content, apple.source) == ("[1]", "api")


async def test_a_refused_delete_leaves_no_tombstone(words: WordRepository) -> None:
    await import_entries(words, [entry("apple")])
    assert not await words.delete_if("apple", Precondition(version=7))
    assert not await words.delete_if("missing", Precondition())
    assert await words.get("apple") is not None
    counts = (await import_entries(words, [entry("apple", "[2]"), entry("missing")])).counts
    assert counts == UpsertCounts(inserted=1, updated=1)


async def test_an_import_never_brings_back_an_entry_deleted_while_it_runs(words: WordRepository) -> None:
    """Editors create and at once delete the keys an import is inserting: whichever lands first, no key exists
    afterwards — the import either sees the tombstone or takes its own insert back."""
    keys = [f"gone {n:03d}" for n in range(120)]

    async def create_and_delete(key: str) -> None:
        await words.create(entry(key, '["editor"]'))  # None when the import inserted the key first
        assert await words.delete_if(key, Precondition())

    async def run_import() -> UpsertCounts:
        result = await import_entries(words, [entry(key) for key in keys], batch_size=10)
        return result.counts

    counts, *_ = await asyncio.gather(run_import(), *(create_and_delete(key) for key in keys))
    assert isinstance(counts, UpsertCounts)
    assert counts.inserted + counts.unchanged + counts.skipped_edited == len(keys)
    assert [key for key in keys if await words.get(key) is not None] == []
