"""A program written against the installed `lexica-client` wheel, asynchronous. contract-tests/test_sdk_wheel.py
runs it in a fresh venv outside the repository, against a live server over the sample entries (`LEXICA_BASE_URL`),
and checks it there with mypy --strict. It prints what it saw as one JSON object."""

from __future__ import annotations

import asyncio
import json

from lexica_client import APIStatusError, AsyncLexica, AsyncPage, Entry, HeadwordItem, NotModified, Tagged


async def status_of_lookup(lexica: AsyncLexica, headword: str) -> int:
    try:
        await lexica.lookup(headword)
    except APIStatusError as error:
        return error.status
    return 200


async def main() -> dict[str, object]:
    async with AsyncLexica(timeout=10.0) as lexica:
        looked_up: Tagged[Entry] = await lexica.lookup("24/7")
        again = await lexica.words.get("24/7", if_none_match=looked_up.etag)
        page: AsyncPage[HeadwordItem] = await lexica.list_words("app", limit=2)
        walked = [item.headword async for item in page]
        headwords = [headword async for headword in lexica.aiter_words(page_size=7)]
        statuses = await asyncio.gather(*(status_of_lookup(lexica, word) for word in ("apple", "zzyzx")))
    return {
        "headword": looked_up.value.headword,
        "not_modified": isinstance(again, NotModified),
        "walked": walked,
        "headwords": headwords,
        "statuses": list(statuses),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
