"""A program written against the installed `lexica-client` wheel, synchronous. contract-tests/test_sdk_wheel.py runs
it in a fresh venv outside the repository, against a live server over the sample entries (`LEXICA_BASE_URL`), and
checks it there with mypy --strict. It prints what it saw as one JSON object."""

from __future__ import annotations

import importlib.metadata
import json
import sys

import lexica_client
from lexica_client import (
    Entry,
    HeadwordItem,
    Lexica,
    LexicaError,
    NotFoundError,
    NotModified,
    Page,
    SearchResults,
    Tagged,
    ValidationError,
)


def first_definition(entry: Entry) -> str:
    return entry.parts_of_speech[0].definitions[0].text


def not_found(lexica: Lexica, headword: str) -> NotFoundError:
    try:
        lexica.lookup(headword)
    except NotFoundError as error:
        return error
    raise AssertionError(f"{headword!r} was found")


def invalid_limit(lexica: Lexica) -> ValidationError:
    try:
        lexica.search("apple", limit=500)
    except ValidationError as error:
        return error
    raise AssertionError("a limit of 500 was accepted")


def main() -> dict[str, object]:
    with Lexica(timeout=10.0, max_retries=2) as lexica:
        looked_up: Tagged[Entry] = lexica.lookup("apple")
        again = lexica.words.get("apple", if_none_match=looked_up.etag)
        results: SearchResults = lexica.search("aple")
        page: Page[HeadwordItem] = lexica.list_words(limit=5)
        walked = [item.headword for item in page]
        raw = lexica.words.with_raw_response.get("apple")
        missing = not_found(lexica, "zzyzx")
        invalid = invalid_limit(lexica)
    return {
        "module_file": lexica_client.__file__,
        "prefix": sys.prefix,
        "version": lexica_client.__version__,
        "distribution_version": importlib.metadata.version("lexica-client"),
        "user_agent": raw.http_response.request.headers["user-agent"],
        "headword": looked_up.value.headword,
        "definition": first_definition(looked_up.value),
        "etag": looked_up.etag,
        "not_modified": isinstance(again, NotModified),
        "search_first": results.items[0].headword,
        "first_page": [item.headword for item in page.items],
        "walked": walked,
        "not_found": [type(missing).__name__, missing.status, missing.request_id, isinstance(missing, LexicaError)],
        "invalid": [[str(part) for part in item.location] for item in invalid.errors],
    }


if __name__ == "__main__":
    print(json.dumps(main()))
