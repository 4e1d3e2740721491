"""FastAPI with a `response_model`: the entry as a Pydantic model, validated and serialised on every request."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from bench.reference.entry import ENTRY, HEADWORD, ROUTE


class Definition(BaseModel):
    text: str
    examples: list[str]


class PartOfSpeechSection(BaseModel):
    part_of_speech: str
    etymology: str | None
    definitions: list[Definition]
    compounds: str | None
    synonyms: list[str] | None


class Entry(BaseModel):
    headword: str
    version: int
    parts_of_speech: list[PartOfSpeechSection]


APPLE = Entry.model_validate(ENTRY)
app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get(ROUTE, response_model=Entry)
async def word(headword: str) -> Entry:
    if headword != HEADWORD:
        raise HTTPException(status_code=404)
    return APPLE
