"""Parsers of streamed response bodies, item by item as the bytes arrive: NDJSON lines and job events (SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from lexica_client._api.models.entry import Entry
from lexica_client._api.models.list_export_line import ListExportLine
from lexica_client._sse import JobEvent, SseDecoder, event_of
from lexica_client.errors import UnexpectedResponseError, parsing

_T = TypeVar("_T")

ExportLine = ListExportLine | Entry
"""A line of an export job's file: a word list's file holds `ListExportLine`s, the dictionary's `Entry`s."""


def _json_line(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError as error:
        raise UnexpectedResponseError(200, "Unexpected Response", f"a line is not JSON: {error}") from None


def list_export_line(line: bytes) -> ListExportLine:
    with parsing(ListExportLine):
        return ListExportLine.from_dict(_json_line(line))  # type: ignore[arg-type]


def export_line(line: bytes) -> ExportLine:
    document = _json_line(line)
    model: type[ListExportLine] | type[Entry] = (
        ListExportLine if isinstance(document, dict) and "added_at" in document else Entry
    )
    with parsing(model):
        return model.from_dict(document)  # type: ignore[arg-type]


class Lines:
    """NDJSON lines from chunks of bytes (a line may span chunks). Split on b"\\n" only: httpx's `iter_lines` also
    splits on U+2028 and friends, which JSON strings may hold unescaped."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *complete, self._pending = (self._pending + chunk).split(b"\n")
        return [line for line in complete if line.strip()]

    def rest(self) -> list[bytes]:
        return [self._pending] if self._pending.strip() else []


def ndjson(parse: Callable[[bytes], _T]) -> Callable[[Iterator[bytes]], Iterator[_T]]:
    def decode(chunks: Iterator[bytes]) -> Iterator[_T]:
        lines = Lines()
        for chunk in chunks:
            for line in lines.feed(chunk):
                yield parse(line)
        for line in lines.rest():
            yield parse(line)

    return decode


def andjson(parse: Callable[[bytes], _T]) -> Callable[[AsyncIterator[bytes]], AsyncIterator[_T]]:
    async def decode(chunks: AsyncIterator[bytes]) -> AsyncIterator[_T]:
        lines = Lines()
        async for chunk in chunks:
            for line in lines.feed(chunk):
                yield parse(line)
        for line in lines.rest():
            yield parse(line)

    return decode


def job_events(chunks: Iterator[bytes]) -> Iterator[JobEvent]:
    """The job events of one connection to a job's event stream (`follow_job` reconnects; this does not)."""
    decoder = SseDecoder()
    for chunk in chunks:
        for message in decoder.feed(chunk):
            event = event_of(message)
            if event is not None:
                yield event


async def ajob_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[JobEvent]:
    decoder = SseDecoder()
    async for chunk in chunks:
        for message in decoder.feed(chunk):
            event = event_of(message)
            if event is not None:
                yield event


__all__ = [
    "ExportLine",
    "JobEvent",
    "ajob_events",
    "andjson",
    "export_line",
    "job_events",
    "list_export_line",
    "ndjson",
]
