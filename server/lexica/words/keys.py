"""Lookup keys: how a headword is normalised so that case, spacing and Unicode form do not matter."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def lookup_key(text: str) -> str:
    """NFKC-normalised, case-folded, with runs of whitespace collapsed to one space and the ends trimmed."""
    if text.isascii() and text.isalpha() and text.islower():  # most lookups: already a key (C-speed checks)
        return text
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (None: no upper bound)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


# `GET /api/v1/words/{headword}/related` lists an entry's links; an entry whose headword ended so could not be read at
# `/api/v1/words/{headword}` (the router decodes `%2F` before matching), so no entry may have such a headword.
RESERVED_SUFFIX = "/related"


def unusable_headword(headword: str) -> str | None:
    """Why a headword cannot name an entry (for a 422), or None when it can."""
    key = lookup_key(headword)
    if not key:
        return "The headword is empty once spaces are removed."
    if key.endswith(RESERVED_SUFFIX):
        return f"A headword cannot end in {RESERVED_SUFFIX!r}: that path lists an entry's links."
    return None
