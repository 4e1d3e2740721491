"""Signed cursors."""

from __future__ import annotations

import pytest

from lexica.platform.pagination import CursorCodec
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
