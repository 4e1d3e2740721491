"""What the generated resource classes (`lexica_client.resources`) stand on: request building with per-call
options, response parsing into the spec's models, ETags, "not modified", raw responses and pages.

Every operation method takes the same per-call options as keywords: `timeout` (seconds or an `httpx.Timeout`),
`max_retries`, `extra_headers` and `extra_query`. Each resource also has `with_raw_response`, the same methods
returning `APIResponse[T]` (status, headers, request id, ETag, and `parse()` for the model).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar, cast
from urllib.parse import quote

import httpx

from lexica_client._api.models.page_links import PageLinks
from lexica_client._retries import MAX_RETRIES_EXTENSION, STREAM_EXTENSION
from lexica_client.errors import REQUEST_ID_HEADER, parsing, unexpected

_T = TypeVar("_T")
_Item = TypeVar("_Item")
_ItemCo = TypeVar("_ItemCo", covariant=True)
_JSON_ACCEPT = "application/json, application/problem+json"

Timeout = float | httpx.Timeout | None


class NotGiven:
    """The type of `NOT_GIVEN`: a per-call option left at the client's setting (where `None` means "no limit")."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


@dataclass(frozen=True, slots=True)
class Tagged(Generic[_T]):
    """A response body and the resource's ETag sent with it; pass `etag` as `etag=` to the next write."""

    value: _T
    etag: str


@dataclass(frozen=True, slots=True)
class NotModified:
    """A conditional read (`if_none_match=`) found the resource unchanged: the copy you hold is current."""

    etag: str | None


class _Model(Protocol):
    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Call:
    """One operation as a generated method describes it: everything but the client that sends it."""

    method: str
    path: str
    query: Mapping[str, Any]
    headers: Mapping[str, str]
    json_body: Any = None
    form_body: Mapping[str, str] | None = None
    content: bytes | None = None
    content_type: str | None = None
    accept: str = _JSON_ACCEPT
    stream: bool = False


def path(template: str, **values: str | uuid.UUID) -> str:
    """`template` with each `{name}` replaced by its value, percent-encoded (a `/` in a headword stays inside it)."""
    return template.format(**{name: quote(str(value), safe="") for name, value in values.items()})


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.value if isinstance(value, Enum) else value


def query(**values: Any) -> dict[str, Any]:
    """The query parameters that were given (None leaves one out); booleans as the spec writes them."""
    return {name: _query_value(value) for name, value in values.items() if value is not None}


def present(values: Mapping[str, str | None]) -> dict[str, str]:
    """The headers that were given (None leaves one out)."""
    return {name: value for name, value in values.items() if value is not None}


def new_idempotency_key() -> str:
    """A fresh `Idempotency-Key` for one call: every retry of the call sends the same one."""
    return f"lexica-python-{uuid.uuid4()}"


def document(body: Any) -> Any:
    """A request body as JSON-ready data: a model of `lexica_client.models` (`to_dict()`), or a mapping as is."""
    if body is None:
        return None
    to_dict = getattr(body, "to_dict", None)
    return to_dict() if callable(to_dict) else dict(body)


def form(body: Any) -> dict[str, str]:
    """A form body (`application/x-www-form-urlencoded`) from a model or a mapping; absent members left out."""
    return {name: str(value) for name, value in document(body).items() if value is not None}


def build_request(
    http: httpx.Client | httpx.AsyncClient,
    call: Call,
    *,
    timeout: Timeout | NotGiven,
    max_retries: int | None,
    extra_headers: Mapping[str, str] | None,
    extra_query: Mapping[str, Any] | None,
) -> httpx.Request:
    request_headers = {"Accept": call.accept, **call.headers}
    if call.content_type is not None:
        request_headers["Content-Type"] = call.content_type
    request_headers.update(extra_headers or {})
    params = {**call.query, **(extra_query or {})}
    extensions: dict[str, Any] = {}
    if max_retries is not None:
        extensions[MAX_RETRIES_EXTENSION] = max_retries
    if call.stream:
        extensions[STREAM_EXTENSION] = True
    content: bytes | None = call.content
    if call.json_body is not None:
        content = json.dumps(call.json_body, ensure_ascii=False, separators=(",", ":")).encode()
    return http.build_request(
        call.method,
        call.path,
        params=params or None,
        headers=request_headers,
        content=content,
        data=dict(call.form_body) if call.form_body is not None else None,
        timeout=http.timeout if isinstance(timeout, NotGiven) else timeout,
        extensions=extensions,
    )


def parse_model(response: httpx.Response, model: type[_T]) -> _T:
    """The response's JSON body as `model` (an attrs model of `lexica_client.models`)."""
    with parsing(model, response):
        return cast(_T, cast(type[_Model], model).from_dict(response.json()))


def etag_of(response: httpx.Response) -> str:
    etag: str | None = response.headers.get("etag")
    if etag is None:
        raise unexpected(response, "the response has no ETag")
    return etag


def tagged(response: httpx.Response, model: type[_T]) -> Tagged[_T]:
    return Tagged(parse_model(response, model), etag_of(response))


def expect_status(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise unexpected(response, f"expected status {' or '.join(map(str, statuses))}")
    return response


class APIResponse(Generic[_T]):
    """The raw response of an operation (from `with_raw_response`): status, headers, request id, ETag; `parse()`
    gives what the plain method returns."""

    def __init__(self, response: httpx.Response, parse: Callable[[httpx.Response], _T]) -> None:
        self.http_response = response
        self._parse = parse

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        value: str | None = self.http_response.headers.get(REQUEST_ID_HEADER)
        return value

    @property
    def etag(self) -> str | None:
        value: str | None = self.http_response.headers.get("etag")
        return value

    def parse(self) -> _T:
        return self._parse(self.http_response)

    def __repr__(self) -> str:
        return f"<APIResponse {self.http_response.request.method} {self.http_response.url} -> {self.status_code}>"


class _PageModel(Protocol[_ItemCo]):
    @property
    def items(self) -> Sequence[_ItemCo]: ...

    @property
    def next_cursor(self) -> str | None: ...

    @property
    def links(self) -> PageLinks: ...


class _PageData(Generic[_Item]):
    """What `Page` and `AsyncPage` share: the page's own model and where a walk over it stands."""

    def __init__(self, model: _PageModel[_Item], cursor: str | None) -> None:
        self.model = model
        self.cursor = cursor  # the cursor this page was fetched with (None: the first page)
        self.resume_cursor = cursor  # where a walk over this page's iterator stopped: pass as `cursor=` to resume

    @property
    def items(self) -> list[_Item]:
        return list(self.model.items)

    @property
    def next_cursor(self) -> str | None:
        return self.model.next_cursor

    @property
    def links(self) -> PageLinks:
        return self.model.links

    def has_next_page(self) -> bool:
        return self.model.next_cursor is not None

    def _next_cursor_or_raise(self) -> str:
        cursor = self.model.next_cursor
        if cursor is None:
            raise RuntimeError("this is the last page: check has_next_page() before get_next_page()")
        return cursor

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self.model.items)} items, next_cursor={self.next_cursor!r}>"


class Page(_PageData[_Item]):
    """One page of a listing, and an iterator over every item from it to the end of the listing.

    `items` and `next_cursor` are this page's; iterating the page walks on through the next pages (each fetched
    with the client's retries, so a 429 mid-walk waits and goes on). After an error mid-walk, `resume_cursor`
    says where it stopped: pass it as `cursor=` to the same listing method to go on from the first item not yet
    yielded (with `iter_pages()`, use the last page's `next_cursor`).
    """

    def __init__(
        self, model: _PageModel[_Item], fetch: Callable[[str], Page[_Item]], cursor: str | None = None
    ) -> None:
        super().__init__(model, cursor)
        self._fetch = fetch

    def get_next_page(self) -> Page[_Item]:
        return self._fetch(self._next_cursor_or_raise())

    def iter_pages(self) -> Iterator[Page[_Item]]:
        page: Page[_Item] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.get_next_page()

    def __iter__(self) -> Iterator[_Item]:
        for page in self.iter_pages():
            yield from page.items
            self.resume_cursor = page.next_cursor  # every item before it was yielded


class AsyncPage(_PageData[_Item]):
    """`Page` for `AsyncLexica`: `async for item in page` walks to the end of the listing."""

    def __init__(
        self, model: _PageModel[_Item], fetch: Callable[[str], Awaitable[AsyncPage[_Item]]], cursor: str | None = None
    ) -> None:
        super().__init__(model, cursor)
        self._fetch = fetch

    async def get_next_page(self) -> AsyncPage[_Item]:
        return await self._fetch(self._next_cursor_or_raise())

    async def iter_pages(self) -> AsyncIterator[AsyncPage[_Item]]:
        page: AsyncPage[_Item] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = await page.get_next_page()

    async def __aiter__(self) -> AsyncIterator[_Item]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item
            self.resume_cursor = page.next_cursor  # every item before it was yielded


class Stream(Generic[_T]):
    """A streamed response parsed item by item as it arrives; iterate it once, or close it (a context manager)."""

    def __init__(self, response: httpx.Response, decode: Callable[[Iterator[bytes]], Iterator[_T]]) -> None:
        self.response = response
        self._items = decode(response.iter_raw())

    def __iter__(self) -> Iterator[_T]:
        try:
            yield from self._items
        finally:
            self.response.close()

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Stream[_T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(Generic[_T]):
    """`Stream` for `AsyncLexica`: `async for item in stream`, or `async with stream`."""

    def __init__(self, response: httpx.Response, decode: Callable[[AsyncIterator[bytes]], AsyncIterator[_T]]) -> None:
        self.response = response
        self._items = decode(response.aiter_raw())

    async def __aiter__(self) -> AsyncIterator[_T]:
        try:
            async for item in self._items:
                yield item
        finally:
            await self.response.aclose()

    async def aclose(self) -> None:
        await self.response.aclose()

    async def __aenter__(self) -> AsyncStream[_T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
