"""The retry rules of `lexica_client._retries`, one test per rule, through `Lexica` over a mock transport."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from mock_api import (
    ENTRY_ETAG,
    ScriptedAPI,
    dropped_body,
    entry,
    fail,
    problem,
    word_list_created,
)

from lexica_client import ConflictError, RateLimitedError
from lexica_client._retries import MAX_BACKOFF_SECONDS, MAX_RETRY_AFTER_SECONDS, may_repeat
from lexica_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    NotFoundError,
    ServiceUnavailableError,
    ValidationError,
)

RETRIED_STATUSES = (408, 429, 500, 502, 503, 504)
KEY_IN_USE = "idempotency-key-in-use"
UPLOAD = [{"headword": "zyzzyva", "parts_of_speech": []}, {"headword": "zyzzyvas", "parts_of_speech": []}]


# Connection errors and timeouts


def test_connection_error_is_retried_then_succeeds() -> None:
    api = ScriptedAPI(fail(httpx.ConnectError), entry())
    with api.client() as lexica:
        assert lexica.words.get("apple").value.headword == "apple"
    assert len(api.requests) == 2
    assert len(api.sleeps) == 1


async def test_connection_error_is_retried_then_succeeds_async() -> None:
    api = ScriptedAPI(fail(httpx.ConnectError), entry())
    async with api.async_client() as lexica:
        assert (await lexica.words.get("apple")).value.headword == "apple"
    assert len(api.requests) == 2
    assert len(api.sleeps) == 1


def test_connection_errors_beyond_the_retries_raise_api_connection_error_caused_by_the_httpx_error() -> None:
    api = ScriptedAPI(*[fail(httpx.ConnectError)] * 3)
    with api.client() as lexica, pytest.raises(APIConnectionError) as caught:
        lexica.words.get("apple")
    assert type(caught.value) is APIConnectionError
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.request is api.requests[-1]
    assert len(api.requests) == 3


async def test_connection_errors_beyond_the_retries_raise_api_connection_error_async() -> None:
    api = ScriptedAPI(*[fail(httpx.ConnectError)] * 3)
    async with api.async_client() as lexica:
        with pytest.raises(APIConnectionError) as caught:
            await lexica.words.get("apple")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(api.requests) == 3


def test_read_timeout_is_retried_and_then_raises_api_timeout_error() -> None:
    api = ScriptedAPI(*[fail(httpx.ReadTimeout)] * 3)
    with api.client() as lexica, pytest.raises(APITimeoutError) as caught:
        lexica.words.get("apple")
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert len(api.requests) == 3


def test_connection_dropped_while_reading_the_body_is_retried() -> None:
    api = ScriptedAPI(dropped_body(), entry())
    with api.client() as lexica:
        assert lexica.words.get("apple").value.headword == "apple"
    assert len(api.requests) == 2


async def test_connection_dropped_while_reading_the_body_is_retried_async() -> None:
    api = ScriptedAPI(dropped_body(), entry())
    async with api.async_client() as lexica:
        assert (await lexica.words.get("apple")).value.headword == "apple"
    assert len(api.requests) == 2


def test_connection_dropped_in_a_streamed_body_raises_api_connection_error_without_retrying() -> None:
    first_line = b'{"headword": "apple", "added_at": "2026-11-27T10:00:00+00:00", "entry": null}\n'
    api = ScriptedAPI(dropped_body(first_line, content_type="application/x-ndjson"))
    with api.client() as lexica:
        lines = iter(lexica.lists.export("list-1"))
        assert next(lines).headword == "apple"
        with pytest.raises(APIConnectionError) as caught:
            next(lines)
    assert isinstance(caught.value.__cause__, httpx.ReadError)
    assert len(api.requests) == 1


# Statuses


@pytest.mark.parametrize("status", RETRIED_STATUSES)
def test_retryable_status_of_a_get_is_retried(status: int) -> None:
    api = ScriptedAPI(problem(status), entry())
    with api.client() as lexica:
        assert lexica.words.get("apple").etag == ENTRY_ETAG
    assert len(api.requests) == 2


@pytest.mark.parametrize(("status", "error"), [(400, BadRequestError), (404, NotFoundError), (422, ValidationError)])
def test_client_error_status_is_not_retried(status: int, error: type[APIStatusError]) -> None:
    api = ScriptedAPI(problem(status, errors=[]))
    with api.client() as lexica, pytest.raises(error):
        lexica.words.get("apple")
    assert len(api.requests) == 1
    assert api.sleeps == []


async def test_retryable_status_is_retried_async() -> None:
    api = ScriptedAPI(problem(503), problem(502), entry())
    async with api.async_client() as lexica:
        assert (await lexica.words.get("apple")).value.headword == "apple"
    assert len(api.requests) == 3


# Retry-After


def test_retry_after_in_seconds_is_waited_for() -> None:
    api = ScriptedAPI(problem(429, headers={"Retry-After": "2"}), entry())
    with api.client() as lexica:
        lexica.words.get("apple")
    assert api.sleeps == [2.0]


async def test_retry_after_in_seconds_is_waited_for_async() -> None:
    api = ScriptedAPI(problem(503, headers={"Retry-After": "2"}), entry())
    async with api.async_client() as lexica:
        await lexica.words.get("apple")
    assert api.sleeps == [2.0]


def test_retry_after_as_http_date_is_waited_for() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    api = ScriptedAPI(problem(429, headers={"Retry-After": when}), entry())
    with api.client() as lexica:
        lexica.words.get("apple")
    [slept] = api.sleeps
    assert 3.0 < slept <= 5.0  # the date has whole seconds


@pytest.mark.parametrize(("status", "error"), [(429, RateLimitedError), (503, ServiceUnavailableError)])
def test_retry_after_beyond_the_cap_is_not_waited_for(
    status: int, error: type[RateLimitedError | ServiceUnavailableError]
) -> None:
    asked = MAX_RETRY_AFTER_SECONDS + 60
    api = ScriptedAPI(problem(status, headers={"Retry-After": f"{asked:.0f}"}))
    with api.client() as lexica, pytest.raises(error) as caught:
        lexica.words.get("apple")
    assert isinstance(caught.value, error)
    assert caught.value.retry_after == asked
    assert len(api.requests) == 1
    assert api.sleeps == []


@pytest.mark.parametrize("value", ["soon", "nan", "-inf", "-1", "1_0", ""])
def test_unusable_retry_after_falls_back_to_backoff(value: str) -> None:
    api = ScriptedAPI(problem(429, headers={"Retry-After": value}), entry())
    with api.client() as lexica:
        lexica.words.get("apple")
    [slept] = api.sleeps
    assert 0.375 <= slept <= 0.5


# Which requests may be repeated


def test_post_without_idempotency_key_is_not_retried_on_503() -> None:
    api = ScriptedAPI(problem(503, headers={"Retry-After": "1"}))
    with api.client() as lexica, pytest.raises(ServiceUnavailableError):
        lexica.auth.logout({"refresh_token": "lxr_example"})
    assert len(api.requests) == 1
    assert api.header("Idempotency-Key") == [None]


def test_post_without_idempotency_key_is_not_retried_on_connection_error() -> None:
    api = ScriptedAPI(fail(httpx.ConnectError))
    with api.client() as lexica, pytest.raises(APIConnectionError):
        lexica.auth.logout({"refresh_token": "lxr_example"})
    assert len(api.requests) == 1


def test_post_with_idempotency_key_is_retried_with_the_same_key() -> None:
    api = ScriptedAPI(problem(503), fail(httpx.ConnectError), word_list_created())
    with api.client() as lexica:
        created = lexica.lists.create({"name": "Fruit"})
    assert created.value.id == "list-1"
    keys = api.header("Idempotency-Key")
    assert len(keys) == 3
    assert keys[0] is not None
    assert keys == [keys[0]] * 3
    assert [request.content for request in api.requests] == [api.requests[0].content] * 3


def test_patch_with_if_match_is_retried() -> None:
    api = ScriptedAPI(problem(502), entry())
    with api.client() as lexica:
        lexica.words.patch("apple", {"parts_of_speech": []}, etag=ENTRY_ETAG)
    assert api.header("If-Match") == [ENTRY_ETAG, ENTRY_ETAG]


def test_patch_without_if_match_may_not_be_repeated() -> None:
    assert not may_repeat(httpx.Request("PATCH", "http://lexica.test/api/v1/words/apple", content=b"{}"))


def test_conflict_idempotency_key_in_use_is_retried_after_its_retry_after() -> None:
    api = ScriptedAPI(problem(409, slug=KEY_IN_USE, headers={"Retry-After": "1"}), word_list_created())
    with api.client() as lexica:
        lexica.lists.create({"name": "Fruit"})
    assert len(api.requests) == 2
    assert api.sleeps == [1.0]


def test_other_conflict_is_not_retried() -> None:
    api = ScriptedAPI(problem(409, slug="list-limit-reached"))
    with api.client() as lexica, pytest.raises(ConflictError):
        lexica.lists.create({"name": "Fruit"})
    assert len(api.requests) == 1


def test_streamed_upload_from_a_generator_is_never_retried() -> None:
    api = ScriptedAPI(problem(503))
    with api.client() as lexica, pytest.raises(ServiceUnavailableError):
        lexica.import_entries(iter(UPLOAD), idempotency_key="upload-1")
    assert len(api.requests) == 1
    assert api.requests[0].content.count(b"\n") == len(UPLOAD)


def test_streamed_upload_is_not_retried_on_connection_error() -> None:
    api = ScriptedAPI(fail(httpx.ConnectError))
    with api.client() as lexica, pytest.raises(APIConnectionError):
        lexica.import_entries(iter(UPLOAD), idempotency_key="upload-1")
    assert len(api.requests) == 1


async def test_streamed_upload_is_never_retried_async() -> None:
    api = ScriptedAPI(problem(503))
    async with api.async_client() as lexica:
        with pytest.raises(ServiceUnavailableError):
            await lexica.import_entries(iter(UPLOAD), idempotency_key="upload-1")
    assert len(api.requests) == 1


# How many retries, and how long between them


def test_default_is_two_retries() -> None:
    api = ScriptedAPI(*[problem(503)] * 3)
    with api.client() as lexica, pytest.raises(ServiceUnavailableError):
        lexica.words.get("apple")
    assert len(api.requests) == 3
    assert len(api.sleeps) == 2


def test_max_retries_zero_on_the_client_sends_once() -> None:
    api = ScriptedAPI(problem(503))
    with api.client(max_retries=0) as lexica, pytest.raises(ServiceUnavailableError):
        lexica.words.get("apple")
    assert len(api.requests) == 1


def test_max_retries_zero_per_call_sends_once() -> None:
    api = ScriptedAPI(fail(httpx.ConnectError))
    with api.client() as lexica, pytest.raises(APIConnectionError):
        lexica.words.get("apple", max_retries=0)
    assert len(api.requests) == 1


def test_max_retries_per_call_overrides_the_clients_in_both_directions() -> None:
    api = ScriptedAPI(*[problem(503)] * 4, entry())
    with api.client(max_retries=0) as lexica:
        lexica.words.get("apple", max_retries=4)
    assert len(api.requests) == 5


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    api = ScriptedAPI(*[fail(httpx.ConnectError)] * 7)
    with api.client(max_retries=6) as lexica, pytest.raises(APIConnectionError):
        lexica.words.get("apple")
    ceilings = [0.5, 1.0, 2.0, 4.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS]
    assert len(api.sleeps) == len(ceilings)
    for slept, ceiling in zip(api.sleeps, ceilings, strict=True):
        assert 0.75 * ceiling <= slept <= ceiling


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 1.0), (0.5, 0.875), (1.0, 0.75)])
def test_backoff_is_scaled_by_the_random_draw(monkeypatch: pytest.MonkeyPatch, draw: float, factor: float) -> None:
    monkeypatch.setattr("lexica_client._retries.random.random", lambda: draw)
    api = ScriptedAPI(problem(500), problem(500), entry())
    with api.client() as lexica:
        lexica.words.get("apple")
    assert api.sleeps == [0.5 * factor, 1.0 * factor]
