"""Per-call options, raw responses, ETags, configuration from the environment, logging and pages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mock_api import (
    BASE_URL,
    ENTRY_ETAG,
    LIST_ETAG,
    REQUEST_ID,
    ScriptedAPI,
    entry,
    entry_json,
    fail,
    headword_page,
    problem,
    reply,
)

from codegen.spec import load_yaml, operations
from lexica_client import Lexica
from lexica_client._runtime import NOT_GIVEN, NotGiven, NotModified, Tagged, Timeout
from lexica_client.errors import APIConnectionError, BadRequestError, ServiceUnavailableError

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "lexica.yaml"
SEARCH_RESULTS = {"query": "aple", "mode": "auto", "items": []}


# timeout, extra_headers, extra_query, max_retries


@pytest.mark.parametrize(
    ("timeout", "sent"),
    [
        pytest.param(NOT_GIVEN, dict.fromkeys(("connect", "read", "write", "pool"), 10.0), id="client-default"),
        pytest.param(2.5, dict.fromkeys(("connect", "read", "write", "pool"), 2.5), id="seconds"),
        pytest.param(None, dict.fromkeys(("connect", "read", "write", "pool")), id="no-limit"),
        pytest.param(
            httpx.Timeout(1.0, read=30.0), {"connect": 1.0, "read": 30.0, "write": 1.0, "pool": 1.0}, id="httpx-timeout"
        ),
    ],
)
def test_per_call_timeout_reaches_the_request(timeout: Timeout | NotGiven, sent: dict[str, float | None]) -> None:
    api = ScriptedAPI(entry())
    with api.client() as lexica:
        lexica.words.get("apple", timeout=timeout)
    assert api.requests[0].extensions["timeout"] == sent


def test_extra_headers_are_sent_and_replace_the_defaults() -> None:
    api = ScriptedAPI(entry())
    with api.client() as lexica:
        lexica.words.get("apple", extra_headers={"X-Trace": "t-1", "Accept": "application/json"})
    [request] = api.requests
    assert request.headers["X-Trace"] == "t-1"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("lexica-client/")


def test_extra_query_is_sent_and_replaces_the_operations_parameters() -> None:
    api = ScriptedAPI(reply(200, SEARCH_RESULTS))
    with api.client() as lexica:
        lexica.words.search("aple", limit=5, extra_query={"limit": 7, "trace": "1"})
    assert dict(api.requests[0].url.params) == {"q": "aple", "limit": "7", "trace": "1"}


def test_per_call_max_retries_applies_to_that_call_only() -> None:
    api = ScriptedAPI(problem(503), problem(503), problem(503), entry())
    with api.client() as lexica:
        with pytest.raises(ServiceUnavailableError):
            lexica.words.get("apple", max_retries=1)
        assert len(api.requests) == 2
        lexica.words.get("apple")  # the client's 2 retries again
    assert len(api.requests) == 4


# Raw responses, ETags and conditional reads


def test_with_raw_response_gives_status_headers_request_id_etag_and_the_parsed_value() -> None:
    api = ScriptedAPI(entry())
    with api.client() as lexica:
        raw = lexica.words.with_raw_response.get("apple")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert (raw.request_id, raw.etag) == (REQUEST_ID, ENTRY_ETAG)
    parsed = raw.parse()
    assert isinstance(parsed, Tagged)
    assert parsed.value.headword == "apple"


async def test_with_raw_response_async() -> None:
    api = ScriptedAPI(reply(201, entry_json("zyzzyva"), headers={"ETag": '"1-zyzzyva"'}))
    async with api.async_client() as lexica:
        raw = await lexica.words.with_raw_response.create({"headword": "zyzzyva", "parts_of_speech": []})
    assert (raw.status_code, raw.etag) == (201, '"1-zyzzyva"')
    assert raw.parse().value.headword == "zyzzyva"


def test_get_returns_the_entry_tagged_with_its_etag() -> None:
    api = ScriptedAPI(entry())
    with api.client() as lexica:
        tagged = lexica.words.get("apple")
    assert tagged.etag == ENTRY_ETAG
    assert tagged.value.headword == "apple"
    assert api.requests[0].url.raw_path == b"/api/v1/words/apple"


def test_headword_with_a_slash_stays_one_path_segment() -> None:
    api = ScriptedAPI(entry("24/7"))
    with api.client() as lexica:
        lexica.lookup("24/7", fresh=True)
    assert api.requests[0].url.raw_path == b"/api/v1/words/24%2F7"
    assert api.requests[0].headers["Cache-Control"] == "no-cache"


def test_if_none_match_gives_not_modified_on_304_without_raising() -> None:
    api = ScriptedAPI(reply(304, headers={"ETag": ENTRY_ETAG}))
    with api.client() as lexica:
        result = lexica.words.get("apple", if_none_match=ENTRY_ETAG)
    assert result == NotModified(ENTRY_ETAG)
    assert api.header("If-None-Match") == [ENTRY_ETAG]


async def test_if_none_match_gives_not_modified_async() -> None:
    api = ScriptedAPI(reply(304, headers={"ETag": LIST_ETAG}))
    async with api.async_client() as lexica:
        result = await lexica.lists.get("list-1", if_none_match=LIST_ETAG)
    assert result == NotModified(LIST_ETAG)


def test_if_none_match_gives_the_entry_when_it_changed() -> None:
    api = ScriptedAPI(entry(etag='"2-apple"'))
    with api.client() as lexica:
        result = lexica.words.get("apple", if_none_match=ENTRY_ETAG)
    assert isinstance(result, Tagged)
    assert result.etag == '"2-apple"'


# Idempotency keys

IdempotentCall = Callable[[Lexica, str | None], object]
ENTRY_INPUT = {"headword": "zyzzyva", "parts_of_speech": []}
IDEMPOTENT_CALLS: dict[str, IdempotentCall] = {
    "createEntry": lambda lexica, key: lexica.words.create(ENTRY_INPUT, idempotency_key=key),
    "createList": lambda lexica, key: lexica.lists.create({"name": "Fruit"}, idempotency_key=key),
    "startImport": lambda lexica, key: lexica.jobs.start_import({"source": "gcide"}, idempotency_key=key),
    "startExport": lambda lexica, key: lexica.jobs.start_export({"source": "dictionary"}, idempotency_key=key),
    "registerUser": lambda lexica, key: lexica.auth.register(
        {"email": "ada@example.com", "password": "a long passphrase"}, idempotency_key=key
    ),
    "createApiKey": lambda lexica, key: lexica.users.create_api_key({"name": "laptop"}, idempotency_key=key),
}
# The friendly helpers over the same operations (lists.py, jobs.py).
IDEMPOTENT_HELPERS: dict[str, IdempotentCall] = {
    "create_list": lambda lexica, key: lexica.create_list("Fruit", idempotency_key=key),
    "start_gcide_import": lambda lexica, key: lexica.start_gcide_import(idempotency_key=key),
    "start_list_export": lambda lexica, key: lexica.start_list_export("list-1", idempotency_key=key),
    "start_dictionary_export": lambda lexica, key: lexica.start_dictionary_export(idempotency_key=key),
}


def test_every_operation_declaring_an_idempotency_key_is_tested() -> None:
    declared = {
        operation.operation_id
        for operation in operations(load_yaml(SPEC))
        if any(parameter.name == "Idempotency-Key" for parameter in operation.parameters)
    }
    assert declared == set(IDEMPOTENT_CALLS)


def _keys_sent(call: IdempotentCall, *given: str | None) -> list[str | None]:
    """The `Idempotency-Key` of each call made with the keys `given` (the server refuses every one)."""
    api = ScriptedAPI(*[problem(400)] * len(given))
    with api.client() as lexica:
        for key in given:
            with pytest.raises(BadRequestError):
                call(lexica, key)
    return api.header("Idempotency-Key")


@pytest.mark.parametrize("operation_id", sorted(IDEMPOTENT_CALLS))
def test_idempotency_key_is_generated_afresh_for_each_call(operation_id: str) -> None:
    first, second = _keys_sent(IDEMPOTENT_CALLS[operation_id], None, None)
    assert first is not None
    assert second is not None
    assert first != second


@pytest.mark.parametrize("operation_id", sorted(IDEMPOTENT_CALLS))
def test_explicit_idempotency_key_is_sent_as_given(operation_id: str) -> None:
    assert _keys_sent(IDEMPOTENT_CALLS[operation_id], "my-key-1") == ["my-key-1"]


@pytest.mark.parametrize("helper", sorted(IDEMPOTENT_HELPERS))
def test_friendly_helper_generates_an_idempotency_key(helper: str) -> None:
    [key] = _keys_sent(IDEMPOTENT_HELPERS[helper], None)
    assert key is not None


async def test_idempotency_key_is_generated_async() -> None:
    api = ScriptedAPI(problem(400))
    async with api.async_client() as lexica:
        with pytest.raises(BadRequestError):
            await lexica.lists.create({"name": "Fruit"})
    [key] = api.header("Idempotency-Key")
    assert key is not None


# Configuration from the environment


def _first_request(make_client: Callable[[httpx.MockTransport], Lexica]) -> httpx.Request:
    api = ScriptedAPI(entry())
    with make_client(httpx.MockTransport(api.handle)) as lexica:
        lexica.words.get("apple")
    return api.requests[0]


def test_base_url_and_api_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXICA_BASE_URL", "http://from-env.test:9000")
    monkeypatch.setenv("LEXICA_API_KEY", "key-from-env")
    request = _first_request(lambda transport: Lexica(transport=transport))
    assert str(request.url) == "http://from-env.test:9000/api/v1/words/apple"
    assert request.headers["X-API-Key"] == "key-from-env"


def test_explicit_base_url_and_api_key_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXICA_BASE_URL", "http://from-env.test:9000")
    monkeypatch.setenv("LEXICA_API_KEY", "key-from-env")
    request = _first_request(lambda transport: Lexica(BASE_URL, api_key="explicit-key", transport=transport))
    assert request.url.host == "lexica.test"
    assert request.headers["X-API-Key"] == "explicit-key"


def test_access_token_given_leaves_the_environments_api_key_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXICA_API_KEY", "key-from-env")
    request = _first_request(lambda transport: Lexica(BASE_URL, access_token="token-1", transport=transport))
    assert request.headers["Authorization"] == "Bearer token-1"
    assert "X-API-Key" not in request.headers


def test_without_configuration_the_client_is_anonymous_on_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEXICA_BASE_URL", raising=False)
    monkeypatch.delenv("LEXICA_API_KEY", raising=False)
    request = _first_request(lambda transport: Lexica(transport=transport))
    assert str(request.url) == "http://127.0.0.1:8000/api/v1/words/apple"
    assert "X-API-Key" not in request.headers
    assert "Authorization" not in request.headers


# Logging


@pytest.fixture
def lexica_log_debug(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`LEXICA_LOG=debug`, and the `lexica_client` logger as it was afterwards (the client configures it once)."""
    logger = logging.getLogger("lexica_client")
    handlers, level = list(logger.handlers), logger.level
    monkeypatch.setenv("LEXICA_LOG", "debug")
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _client_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "lexica_client"]


@pytest.mark.usefixtures("lexica_log_debug")
def test_lexica_log_debug_records_every_attempt_and_retry(caplog: pytest.LogCaptureFixture) -> None:
    api = ScriptedAPI(problem(503, headers={"Retry-After": "1"}), entry())
    with api.client() as lexica:
        lexica.words.get("apple")
    assert _client_records(caplog) == [
        f"GET /api/v1/words/apple -> 503 (attempt 1, request id {REQUEST_ID})",
        "Retrying GET /api/v1/words/apple in 1.00 s (retry 1 of 2): status 503",
        f"GET /api/v1/words/apple -> 200 (attempt 2, request id {REQUEST_ID})",
    ]


@pytest.mark.usefixtures("lexica_log_debug")
def test_lexica_log_debug_records_connection_errors(caplog: pytest.LogCaptureFixture) -> None:
    api = ScriptedAPI(fail(httpx.ConnectError))
    with api.client(max_retries=0) as lexica, pytest.raises(APIConnectionError):
        lexica.words.get("apple")
    [record] = _client_records(caplog)
    assert record.startswith("GET /api/v1/words/apple -> ConnectError(")
    assert record.endswith("(attempt 1)")


def test_client_logs_nothing_by_default(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("LEXICA_LOG", raising=False)
    api = ScriptedAPI(problem(503), entry())
    with api.client() as lexica:
        lexica.words.get("apple")
    assert _client_records(caplog) == []


# Pages

APPLE_PAGES = (headword_page(["apple", "apricot"], "cursor-2"), headword_page(["apron"]))


def _headwords(items: Any) -> list[str]:
    return [item.headword for item in items]


def test_page_iterates_across_pages_with_the_same_parameters_and_options() -> None:
    api = ScriptedAPI(*APPLE_PAGES)
    with api.client() as lexica:
        page = lexica.words.list(prefix="ap", limit=2, extra_headers={"X-Trace": "walk-1"})
        assert page.next_cursor == "cursor-2"
        assert _headwords(page.items) == ["apple", "apricot"]
        assert _headwords(page) == ["apple", "apricot", "apron"]
    assert dict(api.requests[1].url.params) == {"prefix": "ap", "limit": "2", "cursor": "cursor-2"}
    assert api.header("X-Trace") == ["walk-1", "walk-1"]


def test_iter_pages_yields_each_page_and_ends_after_the_last() -> None:
    api = ScriptedAPI(*APPLE_PAGES)
    with api.client() as lexica:
        pages = list(lexica.words.list(prefix="ap", limit=2).iter_pages())
    assert [_headwords(page.items) for page in pages] == [["apple", "apricot"], ["apron"]]
    assert [page.next_cursor for page in pages] == ["cursor-2", None]
    assert not pages[-1].has_next_page()


def test_page_walk_waits_out_a_429_and_goes_on() -> None:
    first, last = APPLE_PAGES
    api = ScriptedAPI(first, problem(429, headers={"Retry-After": "1"}), last)
    with api.client() as lexica:
        assert _headwords(lexica.words.list(prefix="ap", limit=2)) == ["apple", "apricot", "apron"]
    assert api.sleeps == [1.0]


def test_page_walk_resumes_from_the_last_cursor_after_an_error() -> None:
    first, last = APPLE_PAGES
    api = ScriptedAPI(first, fail(httpx.ConnectError), last)
    with api.client(max_retries=0) as lexica:
        walk = lexica.words.list(prefix="ap", limit=2).iter_pages()
        reached = next(walk)
        with pytest.raises(APIConnectionError):
            next(walk)
        assert reached.next_cursor == "cursor-2"
        rest = lexica.words.list(prefix="ap", limit=2, cursor=reached.next_cursor)
        assert _headwords([*reached.items, *rest]) == ["apple", "apricot", "apron"]
    assert api.requests[2].url.params["cursor"] == "cursor-2"


async def test_async_page_iterates_across_pages() -> None:
    api = ScriptedAPI(*APPLE_PAGES)
    async with api.async_client() as lexica:
        page = await lexica.words.list(prefix="ap", limit=2)
        assert page.next_cursor == "cursor-2"
        assert [item.headword async for item in page] == ["apple", "apricot", "apron"]
    assert api.requests[1].url.params["cursor"] == "cursor-2"


async def test_async_iter_pages_and_resume_with_cursor() -> None:
    first, last = APPLE_PAGES
    api = ScriptedAPI(first, last, last)
    async with api.async_client() as lexica:
        pages = [page async for page in (await lexica.words.list(prefix="ap", limit=2)).iter_pages()]
        assert [page.next_cursor for page in pages] == ["cursor-2", None]
        resumed = await lexica.words.list(prefix="ap", limit=2, cursor="cursor-2")
        assert _headwords(resumed.items) == ["apron"]
        assert not resumed.has_next_page()


async def test_aiter_words_walks_every_headword() -> None:
    api = ScriptedAPI(*APPLE_PAGES)
    async with api.async_client() as lexica:
        assert [word async for word in lexica.aiter_words("ap", page_size=2)] == ["apple", "apricot", "apron"]
