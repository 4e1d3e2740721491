"""Accept-header matching."""

from __future__ import annotations

import pytest

from lexica.platform.negotiation import acceptable

JSON = ("application/json",)


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/*",
        "application/json",
        "text/html, application/json;q=0.1",
        "APPLICATION/JSON",
    ],
)
def test_acceptable(accept: str | None) -> None:
    assert acceptable(accept, JSON)


@pytest.mark.parametrize("accept", ["text/html", "application/json;q=0", "image/*", "application/json;q=oops"])
def test_not_acceptable(accept: str) -> None:
    assert not acceptable(accept, JSON)
