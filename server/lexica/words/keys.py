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
