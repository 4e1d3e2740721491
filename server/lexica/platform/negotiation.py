"""`Accept` header matching (RFC 9110 section 12.5.1).

Hand-written because the rule we need (is any of our types acceptable at q > 0?) is a dozen lines, and the
libraries that do full negotiation are unmaintained or pull in a web framework of their own.
"""

from __future__ import annotations

from collections.abc import Sequence


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    ranges = []
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        main, _, sub = media.partition("/")
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((main, sub or "*", quality))
    return ranges


def _specificity(main: str, sub: str) -> int:
    return (main != "*") + (sub != "*")


def acceptable(accept: str | None, offered: Sequence[str]) -> bool:
    """Whether any offered media type is acceptable under `accept` (absent or empty: anything is)."""
    if accept is None or not accept.strip():
        return True
    ranges = _ranges(accept)
    if not ranges:
        return True
    for media_type in offered:
        main, _, sub = media_type.split(";", 1)[0].strip().lower().partition("/")  # parameters do not count
        matching = [
            (_specificity(r_main, r_sub), quality)
            for r_main, r_sub, quality in ranges
            if r_main in ("*", main) and r_sub in ("*", sub)
        ]
        if matching and max(matching)[1] > 0:
            return True
    return False
