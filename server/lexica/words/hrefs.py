"""Where an entry is: the path of `getEntry` for a headword, as every answer that links to an entry gives it."""

from __future__ import annotations

from urllib.parse import quote

WORDS_PATH = "/api/v1/words"


def entry_href(headword: str) -> str:
    return f"{WORDS_PATH}/{quote(headword, safe='')}"


def related_href(headword: str) -> str:
    return f"{entry_href(headword)}/related"
