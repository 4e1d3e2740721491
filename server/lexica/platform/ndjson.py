"""Splitting a byte stream into NDJSON lines as it arrives (a line may span chunks)."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def ndjson_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Every line, without its `\\n` (blank ones included, so that callers can count lines); a last line without
    a newline is yielded too unless it is empty. Only `\\n` separates: JSON strings may hold U+2028 raw."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line
    if pending:
        yield pending
