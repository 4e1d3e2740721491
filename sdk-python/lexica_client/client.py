"""`Lexica` and `AsyncLexica`: the friendly clients over the generated low-level `_api` package.

The generated functions only parse the statuses the spec declares for an operation, and parse an error
body before the caller can look at it (a non-JSON body fails inside them). So error statuses are turned into
exceptions by an httpx response hook, before the generated code sees the response; the generated code
then only ever parses successful responses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from lexica_client._api.api.words import get_entry as _get_entry
from lexica_client._api.api.words import list_words as _list_words
from lexica_client._api.api.words import search_words as _search_words
from lexica_client._api.client import Client
from lexica_client._api.models.entry import Entry
from lexica_client._api.models.headword_page import HeadwordPage
from lexica_client._api.models.search_mode import SearchMode
from lexica_client._api.models.search_results import SearchResults
from lexica_client._api.types import UNSET, Response, Unset
from lexica_client._version import __version__
from lexica_client.errors import UnexpectedResponseError, error_from_parts, error_from_response

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 10.0
USER_AGENT = f"lexica-client/{__version__} (python)"

_Model = TypeVar("_Model")


def _headers(extra: Mapping[str, str] | None) -> httpx.Headers:
    headers = httpx.Headers({"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"})
    headers.update(extra or {})  # case-insensitive: a caller's User-Agent replaces ours
    return headers


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_error:
        response.read()
        raise error_from_response(response)


async def _araise_for_error(response: httpx.Response) -> None:
    if response.is_error:
        await response.aread()
        raise error_from_response(response)


@contextmanager
def _parsing(model: type[Any]) -> Iterator[None]:
    """Turns the generated parser's failure on a body that does not match the spec into a LexicaError."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        # Error statuses never reach the parser (the response hook raises first): this was a success status.
        raise UnexpectedResponseError(
            200, "Unexpected Response", f"the body is not a valid {model.__name__}: {exc!r}"
        ) from exc


def _expect(response: Response[Any], model: type[_Model]) -> _Model:
    """The parsed body if it is a `model`; anything else (a 3xx, an undeclared 2xx) raises."""
    if isinstance(response.parsed, model):
        return response.parsed
    error = error_from_parts(int(response.status_code), response.headers, response.content)
    if error.detail is None:
        error.detail = f"the response holds no {model.__name__}"
    raise error


def _unset(value: str | None) -> str | Unset:
    return UNSET if value is None else value


def _mode(mode: SearchMode | str) -> SearchMode:
    try:
        return SearchMode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in SearchMode)
        raise ValueError(f"mode must be one of {choices}; got {mode!r}") from None


class Lexica:
    """Synchronous client of the Lexica API. Use it as a context manager, or call `close()`.

    Errors come back as `lexica_client.errors.LexicaError` subclasses; network failures and timeouts
    as httpx's own exceptions (`httpx.TransportError`).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers=_headers(headers),
            transport=transport,
            event_hooks={"response": [_raise_for_error]},
        )
        self._api = Client(base_url=base_url).set_httpx_client(self._http)

    @property
    def api_client(self) -> Client:
        """The generated low-level client, for operations this class does not wrap."""
        return self._api

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def lookup(self, headword: str) -> Entry:
        """The entry for `headword` (any case; `/`, spaces and apostrophes are fine). 404: `NotFoundError`."""
        with _parsing(Entry):
            response = _get_entry.sync_detailed(headword, client=self._api)
        return _expect(response, Entry)

    def list_words(self, prefix: str | None = None, *, limit: int = 20, cursor: str | None = None) -> HeadwordPage:
        """One page of headwords in key order; pass a page's `next_cursor` as `cursor` for the next."""
        with _parsing(HeadwordPage):
            response = _list_words.sync_detailed(
                client=self._api, prefix=_unset(prefix), limit=limit, cursor=_unset(cursor)
            )
        return _expect(response, HeadwordPage)

    def iter_words(self, prefix: str | None = None, *, page_size: int = 100) -> Iterator[str]:
        """Every headword (starting with `prefix`), in key order, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.list_words(prefix, limit=page_size, cursor=cursor)
            for item in page.items:
                yield item.headword
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def search(self, q: str, *, mode: SearchMode | str = SearchMode.AUTO, limit: int = 10) -> SearchResults:
        """Headwords matching `q`, best first: exact, then prefix, then close spellings (`mode="auto"`)."""
        search_mode = _mode(mode)
        with _parsing(SearchResults):
            response = _search_words.sync_detailed(client=self._api, q=q, mode=search_mode, limit=limit)
        return _expect(response, SearchResults)


class AsyncLexica:
    """Asynchronous client of the Lexica API. Use it as an async context manager, or await `aclose()`."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers=_headers(headers),
            transport=transport,
            event_hooks={"response": [_araise_for_error]},
        )
        self._api = Client(base_url=base_url).set_async_httpx_client(self._http)

    @property
    def api_client(self) -> Client:
        """The generated low-level client, for operations this class does not wrap."""
        return self._api

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def lookup(self, headword: str) -> Entry:
        """The entry for `headword` (any case; `/`, spaces and apostrophes are fine). 404: `NotFoundError`."""
        with _parsing(Entry):
            response = await _get_entry.asyncio_detailed(headword, client=self._api)
        return _expect(response, Entry)

    async def list_words(
        self, prefix: str | None = None, *, limit: int = 20, cursor: str | None = None
    ) -> HeadwordPage:
        """One page of headwords in key order; pass a page's `next_cursor` as `cursor` for the next."""
        with _parsing(HeadwordPage):
            response = await _list_words.asyncio_detailed(
                client=self._api, prefix=_unset(prefix), limit=limit, cursor=_unset(cursor)
            )
        return _expect(response, HeadwordPage)

    async def aiter_words(self, prefix: str | None = None, *, page_size: int = 100) -> AsyncIterator[str]:
        """Every headword (starting with `prefix`), in key order, following the cursors page by page."""
        cursor: str | None = None
        while True:
            page = await self.list_words(prefix, limit=page_size, cursor=cursor)
            for item in page.items:
                yield item.headword
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def search(self, q: str, *, mode: SearchMode | str = SearchMode.AUTO, limit: int = 10) -> SearchResults:
        """Headwords matching `q`, best first: exact, then prefix, then close spellings (`mode="auto"`)."""
        search_mode = _mode(mode)
        with _parsing(SearchResults):
            response = await _search_words.asyncio_detailed(client=self._api, q=q, mode=search_mode, limit=limit)
        return _expect(response, SearchResults)


__all__ = ["DEFAULT_BASE_URL", "AsyncLexica", "Lexica"]
