"""If-None-Match comparison."""

from __future__ import annotations

import pytest

from lexica.platform.etags import if_none_match_matches


@pytest.mark.parametrize("header", ['"1-abc"', 'W/"1-abc"', '"x", "1-abc"', "*", ' "1-abc" '])
def test_matching(header: str) -> None:
    assert if_none_match_matches(header, '"1-abc"')


@pytest.mark.parametrize("header", ['"2-abc"', "", '"1-ab"', "1-abc"])
def test_not_matching(header: str) -> None:
    assert not if_none_match_matches(header, '"1-abc"')
