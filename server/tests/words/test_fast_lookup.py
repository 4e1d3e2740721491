"""The fast path of cached entry lookups answers exactly what the middleware stack answers.

The same raw ASGI requests go, in lockstep, to an app with the fast path and one without (`tests.front_pair`); each
case also checks that the fast path answered what it should answer and left alone what it should leave alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lexica._generated.routes import OPERATIONS, PARAMETER_MODELS
from lexica.app import LexicaApp
from lexica.platform.binding import OperationInfo
from lexica.platform.front import FrontAnswers
from lexica.platform.request_tally import RequestTally
from lexica.words.fast_lookup import FastEntryLookup, FastPathMismatch
from tests.front_pair import GENERATED_ID, QUOTA, Answer, StackProbe, both, call

APPLE = "/api/v1/words/apple"


async def test_lookups_are_answered_by_the_fast_path_exactly_as_by_the_stack(front_apps: tuple[Any, Any]) -> None:
    first = await both(front_apps, APPLE)
    assert first.status == 200
    assert not first.entered_stack  # a miss: read from storage by the fast path as the stack reads it
    etag = dict(first.headers)[b"etag"].decode()
    answered_fast = [
        await both(front_apps, APPLE),
        await both(front_apps, "/api/v1/words/Apple"),  # another spelling of the same key, from the cache
        await both(front_apps, "/api/v1/words/%20APPLE%20"),
        await both(front_apps, APPLE, [("Accept", "application/json")]),
        await both(front_apps, APPLE, [("Accept", "text/html, application/*;q=0.5")]),
        await both(front_apps, APPLE, [("If-None-Match", etag)]),
        await both(front_apps, APPLE, [("If-None-Match", f'"0-0000000000000000", W/{etag}')]),
        await both(front_apps, APPLE, [("If-None-Match", "*")]),
        await both(front_apps, APPLE, [("If-None-Match", '"0-0000000000000000"')]),
        await both(
            front_apps, APPLE, [("If-None-Match", etag), ("If-None-Match", '"other"')]
        ),  # the first field counts
        await both(front_apps, APPLE, [("Cache-Control", "max-age=60")]),
        await both(front_apps, APPLE, [("X-Request-ID", "client-chosen.id:1")]),
        await both(front_apps, APPLE, [("X-Request-ID", "not safe to echo")]),
        await both(front_apps, APPLE, [("User-Agent", "lexica-test"), ("Accept-Encoding", "gzip")]),
    ]
    assert [answer.status for answer in answered_fast] == [200] * 5 + [304] * 3 + [200, 304, 200, 200, 200, 200]
    assert not any(answer.entered_stack for answer in answered_fast)
    assert dict(answered_fast[-3].headers)[b"x-request-id"] == b"client-chosen.id:1"


async def test_what_the_fast_path_does_not_handle_goes_down_the_stack(front_apps: tuple[Any, Any]) -> None:
    await both(front_apps, APPLE)  # cached from here on
    left_alone = [
        await both(front_apps, APPLE, [("Accept", "text/html")]),  # 406
        await both(front_apps, APPLE, [("Cache-Control", "no-cache")]),  # a fresh read
        await both(front_apps, APPLE, [("If-None-Match", "x" * 2049)]),  # 422: longer than the spec allows
        await both(front_apps, APPLE, [("Authorization", "Bearer not-a-token")]),  # counted against a user, or refused
        await both(front_apps, APPLE, [("X-API-Key", "lx_nothing")]),
        await both(front_apps, APPLE, [("Origin", "https://app.example")]),  # CORS headers
        await both(front_apps, APPLE, [("Origin", "https://elsewhere.example")]),
        await both(front_apps, APPLE + "?verbose=1"),
        await both(front_apps, APPLE, method="HEAD"),  # 405: the spec declares GET only
        await both(front_apps, "/api/v1/words/no-such-headword-at-all"),  # 404, never cached
        await both(front_apps, "/api/v1/words/"),  # 422: empty headword
        await both(front_apps, "/api/v1/words/apple%09pie"),  # 422: a control character
        await both(front_apps, "/api/v1/words/" + "a" * 201),  # 422: too long
        await both(front_apps, "/api/v1/words"),  # another operation
        await both(front_apps, APPLE, [("Content-Length", "3")]),
    ]
    assert all(answer.entered_stack for answer in left_alone)
    assert [answer.status for answer in left_alone][:3] == [406, 200, 422]


async def test_the_quota_is_spent_and_refused_alike(front_apps: tuple[Any, Any]) -> None:
    await both(front_apps, APPLE)
    statuses = [(await both(front_apps, APPLE)).status for _ in range(QUOTA)]
    assert statuses == [200] * (QUOTA - 1) + [429]
    refused = await both(front_apps, APPLE)
    assert refused.status == 429
    assert not refused.entered_stack
    assert dict(refused.headers)[b"content-type"] == b"application/problem+json"


def _remaining(answer: Answer) -> int:
    """The `r` of the answer's `RateLimit` header (`"anonymous";r=38;t=60`)."""
    fields = dict(part.split("=") for part in dict(answer.headers)[b"ratelimit"].decode().split(";")[1:])
    return int(fields["r"])


async def test_a_miss_spends_the_quota_once_and_a_refused_one_reads_nothing(front_apps: tuple[Any, Any]) -> None:
    """The fast path spends a miss's quota before reading storage, as the stack does: a client over its quota
    cannot make the server read, and a miss it hands down (a 404) is not counted twice."""
    fast = front_apps[0]
    assert (await call(fast, "/api/v1/words/no-such-headword-at-all")).entered_stack  # the fast app's state
    words = StackProbe.state.words
    first, second = await call(fast, "/api/v1/words/zzmissing-one"), await call(fast, "/api/v1/words/zzmissing-two")
    assert (first.status, second.status) == (404, 404)
    assert first.entered_stack
    assert second.entered_stack
    assert _remaining(first) - _remaining(second) == 1
    while (await call(fast, APPLE)).status != 429:
        pass
    reads = words.cache_counts().reads
    refused = [await call(fast, "/api/v1/words/abbey"), await call(fast, "/api/v1/words/zzmissing-3")]
    assert [answer.status for answer in refused] == [429, 429]
    assert not any(answer.entered_stack for answer in refused)
    assert words.cache_counts().reads == reads  # nothing read for a refused request


async def test_each_fast_answer_carries_its_own_request_id(front_apps: tuple[Any, Any]) -> None:
    await both(front_apps, APPLE)
    ids = {dict((await call(front_apps[0], APPLE)).headers)[b"x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    assert all(GENERATED_ID.match(value) for value in ids)


async def test_an_entry_the_cache_forgot_is_read_again(front_apps: tuple[Any, Any]) -> None:
    """Every change empties the entry cache of what it changed: the next lookup reads storage again (a miss)."""
    fast = front_apps[0]
    assert (await call(fast, "/api/v1/words/no-such-headword-at-all")).entered_stack  # the 404 is the stack's
    words = StackProbe.state.words  # the fast app's, then
    before = await call(fast, APPLE)
    assert not (await call(fast, APPLE)).entered_stack
    words.forget_cached()  # as a write, here or on another instance, does
    counts = words.cache_counts()
    after = await call(fast, APPLE)
    assert not after.entered_stack
    assert after.body == before.body
    assert (words.cache_counts().misses, words.cache_counts().reads) == (counts.misses + 1, counts.reads + 1)


async def test_a_headword_that_is_not_there_is_read_once_and_answered_by_the_stack(front_apps: tuple[Any, Any]) -> None:
    fast = front_apps[0]
    missing = "/api/v1/words/zzyzx-not-a-word"
    first = await call(fast, missing)
    assert (first.status, first.entered_stack) == (404, True)
    words = StackProbe.state.words
    counts = words.cache_counts()
    again = await call(fast, missing)
    assert (again.status, again.entered_stack) == (404, True)
    assert (words.cache_counts().misses, words.cache_counts().reads) == (counts.misses, counts.reads)  # remembered
    words.forget_cached()  # a change: the headword may exist now
    await call(fast, missing)
    assert words.cache_counts().reads == counts.reads + 1


async def test_a_read_that_fails_goes_down_the_stack(
    front_apps: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = front_apps[0]
    assert (await call(fast, "/api/v1/words/no-such-headword-at-all")).entered_stack
    words = StackProbe.state.words
    words.forget_cached()

    async def unreachable(key: str) -> None:
        raise ConnectionRefusedError(111, "Connection refused")  # storage gone: the stack's answer is a 503

    monkeypatch.setattr(words._repository, "get", unreachable)
    answer = await call(fast, APPLE)
    assert answer.entered_stack
    assert answer.status == 503


def operation(**changes: Any) -> tuple[OperationInfo, ...]:
    """The spec's operations with getEntry changed as given."""
    return tuple(replace(op, **changes) if op.operation_id == "getEntry" else op for op in OPERATIONS)


@pytest.mark.parametrize(
    "changes",
    [
        {"security": ("OAuth2Password",)},
        {"locations": {"headword": ("path", "headword"), "lang": ("query", "lang")}},
        {"produces": ("application/json", "text/html")},
        {"route_path": "/api/v1/words/{headword}/entry"},
        {"method": "POST"},
    ],
)
def test_the_fast_path_refuses_to_start_when_the_spec_changed_under_it(changes: dict[str, Any]) -> None:
    with pytest.raises(FastPathMismatch, match="getEntry"):
        FastEntryLookup(
            LexicaApp(),
            operations=operation(**changes),
            parameter_models=PARAMETER_MODELS,
            answers=FrontAnswers(limiter=None, tally=RequestTally()),
        )
