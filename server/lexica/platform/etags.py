"""Entity-tag comparison for conditional requests (RFC 9110 section 13.1)."""

from __future__ import annotations


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def if_none_match_matches(header: str, current: str) -> bool:
    """Whether `If-None-Match` matches the current ETag (weak comparison, as the RFC requires here)."""
    if header.strip() == "*":
        return True
    wanted = _opaque(current)
    return any(_opaque(candidate) == wanted for candidate in header.split(",") if candidate.strip())


def parse_if_match(header: str) -> list[str] | None:
    """The opaque strong tags of `If-Match` (weak ones can never match there); None for `*`."""
    if header.strip() == "*":
        return None
    return [tag.strip() for tag in header.split(",") if tag.strip() and not tag.strip().startswith("W/")]
