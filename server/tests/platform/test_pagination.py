"""Signed cursors."""

from __future__ import annotations

import pytest

from lexica.platform.pagination import CursorCodec, Keyset
from lexica.platform.problems import ProblemError


def test_cursor_round_trips_within_its_scope() -> None:
    codec = CursorCodec("s" * 40)
    assert codec.decode("words:ab", codec.encode("words:ab", "abacus")) == "abacus"


@pytest.mark.parametrize("cursor", ["", "abc", "a.b", "W10.AAAA", "\u00e9\u00e9"])
def test_malformed_cursors_are_400(cursor: str) -> None:
    with pytest.raises(ProblemError) as raised:
        CursorCodec("s" * 40).decode("words:", cursor)
    assert raised.value.status == 400


def test_cursor_from_another_secret_or_scope_is_rejected() -> None:
    cursor = CursorCodec("s" * 40).encode("words:ab", "abacus")
    with pytest.raises(ProblemError):
        CursorCodec("t" * 40).decode("words:ab", cursor)
    with pytest.raises(ProblemError):
        CursorCodec("s" * 40).decode("words:ac", cursor)


async def test_a_keyset_pages_through_a_listing_with_one_extra_row_per_read() -> None:
    rows = [f"row-{n:02d}" for n in range(7)]
    reads: list[tuple[str | None, int]] = []

    async def fetch(after: str | None, count: int) -> list[str]:
        reads.append((after, count))
        start = rows.index(after) + 1 if after is not None else 0
        return rows[start : start + count]

    keyset = Keyset(CursorCodec("a secret long enough for signing"), "test:listing")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await keyset.read(cursor, 3, fetch, lambda row: row)
        seen.extend(page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == rows
    assert reads == [(None, 4), ("row-02", 4), ("row-05", 4)]
    exact = await keyset.read(None, 7, fetch, lambda row: row)
    assert exact.rows == rows
    assert exact.next_cursor is None  # no extra row came back: the last page
    other = Keyset(CursorCodec("a secret long enough for signing"), "test:another-listing")
    with pytest.raises(ProblemError):
        other.start(cursor)  # a cursor of one listing is refused by another
