"""Litestar with a msgspec Struct: the entry as a Struct, encoded on every request."""

from __future__ import annotations

import msgspec
from litestar import Litestar, get
from litestar.exceptions import NotFoundException

from bench.reference.entry import ENTRY, HEADWORD, ROUTE


class Definition(msgspec.Struct):
    text: str
    examples: list[str]


class PartOfSpeechSection(msgspec.Struct):
    part_of_speech: str
    etymology: str | None
    definitions: list[Definition]
    compounds: str | None
    synonyms: list[str] | None


class Entry(msgspec.Struct):
    headword: str
    version: int
    parts_of_speech: list[PartOfSpeechSection]


APPLE = msgspec.convert(ENTRY, Entry)


@get(ROUTE.replace("{headword}", "{headword:str}"))
async def word(headword: str) -> Entry:
    if headword != HEADWORD:
        raise NotFoundException()
    return APPLE


app = Litestar(route_handlers=[word], openapi_config=None)
