"""Lookup-key normalisation."""

from __future__ import annotations

import pytest

from lexica.words.keys import lookup_key, prefix_upper_bound


@pytest.mark.parametrize(
    ("text", "key"),
    [("Apple", "apple"), ("  a   cappella ", "a cappella"), ("\uff21pple", "apple"),
     ("Stra\u00dfe", "strasse"), ("cafe\u0301", "caf\u00e9"), ("a\tb\nc", "a b c"), ("", "")],
)  # fmt: skip
def test_lookup_key_normalises_case_spacing_and_unicode(text: str, key: str) -> None:
    assert lookup_key(text) == key


def test_prefix_upper_bound_is_just_above_every_completion() -> None:
    upper = prefix_upper_bound("ab")
    assert upper == "ac"
    assert "ab" < "abzzzz" < upper
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("") is None
