"""`Lexica` and `AsyncLexica`: the friendly clients over the generated low-level `_api` package.

The generated functions only parse the statuses the spec declares for an operation, and parse an error
body before the caller can look at it (a non-JSON body fails inside them). So error statuses are turned into
exceptions by an httpx response hook, before the generated code sees the response; the generated code
then only ever parses successful responses.

Credentials (an API key, or a bearer token given or got by `sign_in`) are added by an `httpx.Auth` on the
clients' httpx client, so they also go with the requests of the generated functions called on `api_client`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from lexica_client._api.client import AuthenticatedClient
from lexica_client._api.models.entry import Entry
from lexica_client._api.models.headword_item import HeadwordItem
from lexica_client._api.models.related_entries import RelatedEntries
from lexica_client._api.models.related_entry import RelatedEntry
from lexica_client._api.models.search_mode import SearchMode
from lexica_client._api.models.search_results import SearchResults
from lexica_client._api.models.token_pair import TokenPair
from lexica_client._api.models.token_request import TokenRequest
from lexica_client._api.models.token_request_grant_type import TokenRequestGrantType
from lexica_client._api.types import UNSET, Unset
from lexica_client._logs import configure_from_environment
from lexica_client._retries import DEFAULT_MAX_RETRIES, AsyncRetryTransport, RetryPolicy, RetryTransport
from lexica_client._runtime import AsyncPage, Page, Tagged
from lexica_client._version import __version__
from lexica_client.errors import error_from_response, parsing
from lexica_client.jobs import AsyncJobMethods, JobMethods
from lexica_client.lists import AsyncListMethods, ListMethods
from lexica_client.realtime import Realtime, ReconnectPolicy, http_auth_headers
from lexica_client.resources import (
    Admin,
    AsyncAdmin,
    AsyncAuth,
    AsyncJobs,
    AsyncLists,
    AsyncOps,
    AsyncUsers,
    AsyncWords,
    Auth,
    Jobs,
    Lists,
    Ops,
    Users,
    Words,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
BASE_URL_ENV, API_KEY_ENV = "LEXICA_BASE_URL", "LEXICA_API_KEY"
DEFAULT_TIMEOUT = 10.0
USER_AGENT = f"lexica-client/{__version__} (python)"
TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 (a URL path, not a secret)
# A token is refreshed this long before it expires, so that it does not expire on its way to the server.
_REFRESH_MARGIN_SECONDS = 30.0

_clock = time.monotonic  # when access tokens are due; a test may move it forward


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


def _unset(value: str | None) -> str | Unset:
    return UNSET if value is None else value


def _token_pair(response: httpx.Response) -> TokenPair:
    with parsing(TokenPair):
        return TokenPair.from_dict(response.json())


class _Tokens:
    """A bearer token, and from `sign_in` the refresh token and when to use it."""

    def __init__(self, access: str, refresh: str | None = None, expires_in: float | None = None) -> None:
        self.access = access
        self.refresh = refresh
        margin = min(_REFRESH_MARGIN_SECONDS, (expires_in or 0) / 2)
        self.refresh_at = None if refresh is None or expires_in is None else _clock() + expires_in - margin

    @classmethod
    def issued(cls, pair: TokenPair) -> _Tokens:
        return cls(pair.access_token, pair.refresh_token, pair.expires_in)

    def due(self) -> bool:
        return self.refresh_at is not None and _clock() >= self.refresh_at


class _Credentials(httpx.Auth):
    """Puts the API key (`X-API-Key`) or the bearer token (`Authorization`) on every request.

    A token from `sign_in` is refreshed (refresh-token grant) by the first request that finds it due, under a
    lock, so that concurrent requests refresh once: the server revokes the whole sign-in when a refresh token is
    presented twice. A token passed as `access_token` has no refresh token and is not refreshed.
    """

    def __init__(
        self,
        token_request: Callable[[dict[str, Any]], httpx.Request],
        *,
        api_key: str | None,
        access_token: str | None,
        api_key_from_environment: bool = False,
    ) -> None:
        if api_key is not None and access_token is not None:
            raise ValueError("pass api_key or access_token, not both")
        self._token_request = token_request
        self._api_key = api_key
        self._api_key_from_environment = api_key_from_environment
        self._tokens = None if access_token is None else _Tokens(access_token)
        self._lock = threading.Lock()
        self._async_lock = asyncio.Lock()

    @property
    def kind(self) -> str:
        if self._api_key is not None:
            return "api_key"
        return "anonymous" if self._tokens is None else "bearer"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"  # never the secrets themselves

    def check_can_sign_in(self) -> None:
        if self._api_key is not None and not self._api_key_from_environment:
            raise ValueError("this client sends an API key; create another client to sign in")

    def signed_in(self, pair: TokenPair) -> None:
        self._api_key = None  # a key from LEXICA_API_KEY gives way to the sign-in
        self._tokens = _Tokens.issued(pair)

    def _refresh_due(self) -> str | None:
        """The refresh token, when it is time to use it."""
        tokens = self._tokens
        return tokens.refresh if tokens is not None and tokens.due() else None

    def _refresh_request(self, refresh_token: str) -> httpx.Request:
        grant = TokenRequest(grant_type=TokenRequestGrantType.REFRESH_TOKEN, refresh_token=refresh_token)
        return self._token_request(grant.to_dict())

    def _authorize(self, request: httpx.Request) -> None:
        if self._api_key is not None:
            request.headers["X-API-Key"] = self._api_key
        elif self._tokens is not None:
            request.headers["Authorization"] = f"Bearer {self._tokens.access}"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._refresh_due() is not None:
            with self._lock:
                refresh_token = self._refresh_due()  # None if another thread refreshed while this one waited
                if refresh_token is not None:
                    response = yield self._refresh_request(refresh_token)  # an error raises in the response hook
                    response.read()
                    self._tokens = _Tokens.issued(_token_pair(response))
        self._authorize(request)
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._refresh_due() is not None:
            async with self._async_lock:
                refresh_token = self._refresh_due()  # None if another task refreshed while this one waited
                if refresh_token is not None:
                    response = yield self._refresh_request(refresh_token)  # an error raises in the response hook
                    await response.aread()
                    self._tokens = _Tokens.issued(_token_pair(response))
        self._authorize(request)
        yield request


def _base_url(given: str | None) -> str:
    return given or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def _credentials(
    token_request: Callable[[dict[str, Any]], httpx.Request], api_key: str | None, access_token: str | None
) -> _Credentials:
    """The API key given, else `LEXICA_API_KEY` (unless a bearer token was given; `sign_in` replaces it)."""
    if api_key is not None or access_token is not None:
        return _Credentials(token_request, api_key=api_key, access_token=access_token)
    from_environment = os.environ.get(API_KEY_ENV) or None
    return _Credentials(
        token_request,
        api_key=from_environment,
        access_token=None,
        api_key_from_environment=from_environment is not None,
    )


def _password_grant(email: str, password: str, otp: str | None) -> dict[str, Any]:
    grant = TokenRequestGrantType.PASSWORD
    return TokenRequest(grant_type=grant, username=email, password=password, otp=_unset(otp)).to_dict()


def _mode(mode: SearchMode | str) -> SearchMode:
    try:
        return SearchMode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in SearchMode)
        raise ValueError(f"mode must be one of {choices}; got {mode!r}") from None


class Lexica(ListMethods, JobMethods):
    """Synchronous client of the Lexica API. Use it as a context manager, or call `close()`.

    Every operation of the API is a method of a resource named for its tag: `words`, `lists`, `jobs`, `users`,
    `auth`, `admin`, `ops` (e.g. `lexica.words.get("apple")`); the methods on the client itself are friendly
    helpers over them. Dictionary reads need no credentials. For word lists and jobs pass `api_key` (a personal
    API key; default `LEXICA_API_KEY`) or `access_token` (a bearer token, not refreshed), or call `sign_in`.
    `base_url` defaults to `LEXICA_BASE_URL`, then to http://127.0.0.1:8000. Failed attempts are retried
    `max_retries` times (see `lexica_client._retries`). Every error is a `lexica_client.LexicaError`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        configure_from_environment()
        url = _base_url(base_url)
        self._credentials = _credentials(self._token_request, api_key, access_token)
        self.retries = RetryTransport(transport or httpx.HTTPTransport(), RetryPolicy(max_retries=max_retries))
        self._http = httpx.Client(
            base_url=url,
            auth=self._credentials,
            timeout=timeout,
            headers=_headers(headers),
            transport=self.retries,
            event_hooks={"response": [_raise_for_error]},
        )
        # The generated client's own token is only used by httpx clients it builds itself; ours brings its auth.
        self._api = AuthenticatedClient(base_url=url, token="").set_httpx_client(self._http)
        self.words = Words(self._http)
        self.lists = Lists(self._http)
        self.jobs = Jobs(self._http)
        self.users = Users(self._http)
        self.auth = Auth(self._http)
        self.admin = Admin(self._http)
        self.ops = Ops(self._http)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._http.base_url)!r}, credentials={self._credentials.kind})"

    @property
    def api_client(self) -> AuthenticatedClient:
        """The generated low-level client, for operations this class does not wrap; it sends our credentials."""
        return self._api

    def _token_request(self, form: dict[str, Any]) -> httpx.Request:
        return self._http.build_request("POST", TOKEN_PATH, data=form)

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

    def sign_in(self, email: str, password: str, *, otp: str | None = None) -> None:
        """Gets a token pair (OAuth 2.0 password grant); later calls send its access token, refreshed when due.

        `otp` is a TOTP code or a recovery code, for an account with two-factor authentication. A wrong
        password raises `BadRequestError` (`invalid_grant`). So does a refresh the server refuses (the sign-in
        was revoked, e.g. by logout): sign in again.
        """
        self._credentials.check_can_sign_in()
        response = self._http.send(self._token_request(_password_grant(email, password, otp)), auth=None)
        self._credentials.signed_in(_token_pair(response))

    def lookup(self, headword: str, *, fresh: bool = False) -> Tagged[Entry]:
        """The entry for `headword` (any case; `/`, spaces and apostrophes are fine) and its ETag (`.etag`, for
        a conditional read or an edit). 404: `NotFoundError`. `fresh=True` reads the stored entry, not a server
        cache (do so before an edit). A conditional read is `words.get(headword, if_none_match=etag)`."""
        return self.words.get(headword, cache_control="no-cache" if fresh else None)

    def list_words(
        self, prefix: str | None = None, *, limit: int = 20, cursor: str | None = None
    ) -> Page[HeadwordItem]:
        """One page of headwords in key order; iterating it walks on to the end. To resume a walk that failed,
        pass the last page's `next_cursor` as `cursor`."""
        return self.words.list(prefix=prefix, limit=limit, cursor=cursor)

    def iter_words(
        self, prefix: str | None = None, *, page_size: int = 100, cursor: str | None = None
    ) -> Iterator[str]:
        """Every headword (starting with `prefix`), in key order, following the cursors page by page."""
        for item in self.list_words(prefix, limit=page_size, cursor=cursor):
            yield item.headword

    def related(self, headword: str, *, limit: int = 20, cursor: str | None = None) -> RelatedEntries:
        """The entries `headword` names in its cross-references and synonyms (`links_to`), and one page of the
        entries that name it (`linked_from`; pass `next_cursor` as `cursor` for the next). 404: `NotFoundError`."""
        return self.words.related(headword, limit=limit, cursor=cursor)

    def iter_linked_from(
        self, headword: str, *, page_size: int = 100, cursor: str | None = None
    ) -> Iterator[RelatedEntry]:
        """Every entry that names `headword`, in key order, following the cursors page by page."""
        while True:
            page = self.related(headword, limit=page_size, cursor=cursor)
            yield from page.linked_from
            if not isinstance(page.next_cursor, str):
                return
            cursor = page.next_cursor

    def search(self, q: str, *, mode: SearchMode | str = SearchMode.AUTO, limit: int = 10) -> SearchResults:
        """Headwords matching `q`, best first: exact, then prefix, then close spellings (`mode="auto"`)."""
        return self.words.search(q, mode=_mode(mode), limit=limit)


class AsyncLexica(AsyncListMethods, AsyncJobMethods):
    """Asynchronous client of the Lexica API. Use it as an async context manager, or await `aclose()`.

    It takes the same settings as `Lexica` and has the same resources, with coroutine methods.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        configure_from_environment()
        url = _base_url(base_url)
        self._credentials = _credentials(self._token_request, api_key, access_token)
        self.retries = AsyncRetryTransport(
            transport or httpx.AsyncHTTPTransport(), RetryPolicy(max_retries=max_retries)
        )
        self._http = httpx.AsyncClient(
            base_url=url,
            auth=self._credentials,
            timeout=timeout,
            headers=_headers(headers),
            transport=self.retries,
            event_hooks={"response": [_araise_for_error]},
        )
        # The generated client's own token is only used by httpx clients it builds itself; ours brings its auth.
        self._api = AuthenticatedClient(base_url=url, token="").set_async_httpx_client(self._http)
        self.words = AsyncWords(self._http)
        self.lists = AsyncLists(self._http)
        self.jobs = AsyncJobs(self._http)
        self.users = AsyncUsers(self._http)
        self.auth = AsyncAuth(self._http)
        self.admin = AsyncAdmin(self._http)
        self.ops = AsyncOps(self._http)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._http.base_url)!r}, credentials={self._credentials.kind})"

    @property
    def api_client(self) -> AuthenticatedClient:
        """The generated low-level client, for operations this class does not wrap; it sends our credentials."""
        return self._api

    def _token_request(self, form: dict[str, Any]) -> httpx.Request:
        return self._http.build_request("POST", TOKEN_PATH, data=form)

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

    def realtime(self, *topics: str, reconnect: ReconnectPolicy | None = None) -> Realtime:
        """A WebSocket client (`async with` it, `async for` its messages) subscribed to `topics` (`job:<id>`,
        `list:<id>`, `entries`), sending this client's credentials (refreshed when due) at every reconnect."""
        auth = http_auth_headers(self._http)
        return Realtime(str(self._http.base_url), auth_headers=auth, topics=topics, reconnect=reconnect)

    async def sign_in(self, email: str, password: str, *, otp: str | None = None) -> None:
        """Gets a token pair (OAuth 2.0 password grant); later calls send its access token, refreshed when due.

        As `Lexica.sign_in`.
        """
        self._credentials.check_can_sign_in()
        request = self._token_request(_password_grant(email, password, otp))
        response = await self._http.send(request, auth=None)
        self._credentials.signed_in(_token_pair(response))

    async def lookup(self, headword: str, *, fresh: bool = False) -> Tagged[Entry]:
        """As `Lexica.lookup`."""
        return await self.words.get(headword, cache_control="no-cache" if fresh else None)

    async def list_words(
        self, prefix: str | None = None, *, limit: int = 20, cursor: str | None = None
    ) -> AsyncPage[HeadwordItem]:
        """As `Lexica.list_words`: `async for item in page` walks on to the end."""
        return await self.words.list(prefix=prefix, limit=limit, cursor=cursor)

    async def aiter_words(
        self, prefix: str | None = None, *, page_size: int = 100, cursor: str | None = None
    ) -> AsyncIterator[str]:
        """Every headword (starting with `prefix`), in key order, following the cursors page by page."""
        async for item in await self.list_words(prefix, limit=page_size, cursor=cursor):
            yield item.headword

    async def related(self, headword: str, *, limit: int = 20, cursor: str | None = None) -> RelatedEntries:
        """As `Lexica.related`."""
        return await self.words.related(headword, limit=limit, cursor=cursor)

    async def aiter_linked_from(
        self, headword: str, *, page_size: int = 100, cursor: str | None = None
    ) -> AsyncIterator[RelatedEntry]:
        """Every entry that names `headword`, in key order, following the cursors page by page."""
        while True:
            page = await self.related(headword, limit=page_size, cursor=cursor)
            for item in page.linked_from:
                yield item
            if not isinstance(page.next_cursor, str):
                return
            cursor = page.next_cursor

    async def search(self, q: str, *, mode: SearchMode | str = SearchMode.AUTO, limit: int = 10) -> SearchResults:
        """Headwords matching `q`, best first: exact, then prefix, then close spellings (`mode="auto"`)."""
        return await self.words.search(q, mode=_mode(mode), limit=limit)


__all__ = ["DEFAULT_BASE_URL", "AsyncLexica", "Lexica"]
