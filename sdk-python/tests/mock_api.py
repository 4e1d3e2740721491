"""A scripted Lexica API for the SDK's unit tests, over `httpx.MockTransport`: each request gets the next step of
the script, and the client's pauses between retries are recorded instead of slept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from lexica_client import AsyncLexica, Lexica

BASE_URL = "http://lexica.test"
REQUEST_ID = "req-test-1"
ENTRY_ETAG = '"1-apple"'
LIST_ETAG = '"list-1"'
PROBLEM_JSON = "application/problem+json"

Step = Callable[[httpx.Request], httpx.Response]


class ScriptedAPI:
    """Answers the n-th request with the n-th step; a request beyond the script fails the test."""

    def __init__(self, *steps: Step) -> None:
        self.steps = steps
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if len(self.requests) >= len(self.steps):
            raise AssertionError(f"request {len(self.requests) + 1} was not expected: {request.method} {request.url}")
        self.requests.append(request)
        return self.steps[len(self.requests) - 1](request)

    def client(self, *, max_retries: int | None = None) -> Lexica:
        """A `Lexica` on this script; `max_retries` None leaves the client's default."""
        transport = httpx.MockTransport(self.handle)
        if max_retries is None:
            lexica = Lexica(BASE_URL, transport=transport)
        else:
            lexica = Lexica(BASE_URL, max_retries=max_retries, transport=transport)
        lexica.retries.sleep = self.sleeps.append
        return lexica

    def async_client(self, *, max_retries: int | None = None) -> AsyncLexica:
        transport = httpx.MockTransport(self.handle)
        if max_retries is None:
            lexica = AsyncLexica(BASE_URL, transport=transport)
        else:
            lexica = AsyncLexica(BASE_URL, max_retries=max_retries, transport=transport)
        lexica.retries.sleep = self._sleep
        return lexica

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def header(self, name: str) -> list[str | None]:
        """The header `name` of every request received, in order."""
        return [request.headers.get(name) for request in self.requests]


def reply(
    status: int = 200,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    content_type: str = "application/json",
) -> Step:
    """A step answering `status` with `body` as JSON (or the raw `content`) and the server's request id."""
    payload = json.dumps(body).encode() if content is None and body is not None else (content or b"")

    def step(request: httpx.Request) -> httpx.Response:
        all_headers = {"X-Request-ID": REQUEST_ID, "Content-Type": content_type, **(headers or {})}
        return httpx.Response(status, headers=all_headers, content=payload)

    return step


def problem(
    status: int,
    *,
    slug: str | None = None,
    title: str = "Problem",
    detail: str = "Something is wrong.",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Step:
    """A step answering an RFC 9457 problem document, as the server writes them."""
    body = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": REQUEST_ID,
        **extra,
    }
    return reply(status, body, headers=headers, content_type=PROBLEM_JSON)


def fail(error: type[httpx.TransportError]) -> Step:
    """A step where the request gets no response: `error` is raised as the transport would."""

    def step(request: httpx.Request) -> httpx.Response:
        raise error(f"simulated {error.__name__}", request=request)

    return step


class _DroppedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that breaks off after its first chunk, as when the connection drops."""

    def __init__(self, first: bytes) -> None:
        self._first = first

    def __iter__(self) -> Iterator[bytes]:
        yield self._first
        raise httpx.ReadError("connection dropped mid-body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._first
        raise httpx.ReadError("connection dropped mid-body")


def dropped_body(first: bytes = b'{"headword": "app', *, content_type: str = "application/json") -> Step:
    """A step answering 200 whose body breaks off after `first`."""

    def step(request: httpx.Request) -> httpx.Response:
        headers = {"X-Request-ID": REQUEST_ID, "Content-Type": content_type, "ETag": ENTRY_ETAG}
        return httpx.Response(200, headers=headers, stream=_DroppedBody(first))

    return step


def entry_json(headword: str = "apple", version: int = 1) -> dict[str, Any]:
    section = {
        "part_of_speech": "n.",
        "etymology": None,
        "definitions": [{"text": "The fruit of a tree.", "examples": []}],
        "compounds": None,
        "synonyms": None,
    }
    return {"headword": headword, "version": version, "parts_of_speech": [section], "links": []}


def entry(headword: str = "apple", *, etag: str = ENTRY_ETAG, status: int = 200) -> Step:
    """A step answering the entry for `headword` with its ETag."""
    return reply(status, entry_json(headword), headers={"ETag": etag})


def word_list_json(list_id: str = "list-1", name: str = "Fruit") -> dict[str, Any]:
    return {
        "id": list_id,
        "name": name,
        "description": None,
        "visibility": "private",
        "version": 1,
        "word_count": 0,
        "created_at": "2026-11-27T10:00:00+00:00",
        "updated_at": "2026-11-27T10:00:00+00:00",
        "href": f"/api/v1/lists/{list_id}",
    }


def word_list_created(list_id: str = "list-1") -> Step:
    return reply(201, word_list_json(list_id), headers={"ETag": LIST_ETAG, "Location": f"/api/v1/lists/{list_id}"})


def headword_page(headwords: Sequence[str], next_cursor: str | None = None) -> Step:
    """A step answering one page of `listWords`."""
    items = [{"headword": word, "href": f"/api/v1/words/{word}"} for word in headwords]
    next_link = None if next_cursor is None else f"/api/v1/words?cursor={next_cursor}"
    return reply(200, {"items": items, "next_cursor": next_cursor, "links": {"next": next_link}})
