"""Replayed reads (`x-lexica-replay`) answer exactly what the middleware stack answers, and only while they may.

The same raw ASGI requests go, in lockstep, to an app with the front's fast paths and one without
(`tests.front_pair`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lexica._generated.routes import OPERATIONS
from lexica.app import LexicaApp
from lexica.platform.front import FrontAnswers
from lexica.platform.replay import ReplayedReads, ReplayMismatch
from lexica.platform.request_tally import RequestTally
from tests.front_pair import QUOTA, StackProbe, both, call

PAGE = "/api/v1/words?prefix=ab&limit=5"
SEARCHES = ["/api/v1/search?q=abbey&mode=exact", "/api/v1/search?q=abb&mode=prefix", "/api/v1/search?q=abey&mode=fuzzy"]


async def test_repeated_reads_are_replayed_exactly_as_the_stack_answers_them(front_apps: tuple[Any, Any]) -> None:
    for path in [PAGE, *SEARCHES]:
        first = await both(front_apps, path)
        assert first.status == 200
        assert first.entered_stack  # the first one is the stack's
        again = [
            await both(front_apps, path),
            await both(front_apps, path, [("Accept", "application/json"), ("X-Request-ID", "mine-1")]),
            await both(front_apps, path, [("User-Agent", "lexica-test"), ("Accept-Encoding", "gzip")]),
        ]
        assert [answer.status for answer in again] == [200, 200, 200]
        assert not any(answer.entered_stack for answer in again)
        assert dict(again[1].headers)[b"x-request-id"] == b"mine-1"


async def test_what_cannot_be_replayed_goes_down_the_stack(front_apps: tuple[Any, Any]) -> None:
    await both(front_apps, PAGE)
    cursor = "eyJhIjoiYiJ9"  # not signed by this server
    left_alone = [
        await both(front_apps, "/api/v1/words?prefix=ab&limit=6"),  # another query string: first time
        await both(front_apps, PAGE, [("Accept", "text/html")]),  # 406
        await both(front_apps, PAGE, [("Authorization", "Bearer not-a-token")]),
        await both(front_apps, PAGE, [("Origin", "https://app.example")]),
        await both(front_apps, PAGE, method="HEAD"),
        await both(front_apps, f"/api/v1/words?cursor={cursor}"),  # 400, never kept
        await both(front_apps, f"/api/v1/words?cursor={cursor}"),
        await both(front_apps, "/api/v1/search?q=abbey&mode=sideways"),  # 422, never kept
        await both(front_apps, "/api/v1/search?q=abbey&mode=sideways"),
    ]
    assert all(answer.entered_stack for answer in left_alone)
    assert [answer.status for answer in left_alone][-4:] == [400, 400, 422, 422]


async def test_a_change_to_the_dictionary_ends_every_replay(front_apps: tuple[Any, Any]) -> None:
    fast = front_apps[0]
    await call(fast, PAGE)
    assert not (await call(fast, PAGE)).entered_stack
    StackProbe.state.words.forget_cached()  # what an edit, a delete or an import does (here or elsewhere)
    assert (await call(fast, PAGE)).entered_stack
    assert not (await call(fast, PAGE)).entered_stack


async def test_a_rebuilt_search_index_ends_the_replays_answered_from_the_old_one(front_apps: tuple[Any, Any]) -> None:
    """An import forgets every cache at once and rebuilds the index in the background (a second or so): a search
    answered meanwhile came from the old index, and was replayed for a minute after the new one was in place."""
    fast = front_apps[0]
    search = "/api/v1/search?q=abbey&mode=exact"
    await call(fast, "/api/v1/words/no-such-headword-at-all")  # enters the stack: the fast app's state
    words = StackProbe.state.words
    await call(fast, search)
    assert not (await call(fast, search)).entered_stack  # replayed
    await words.rebuild_index()
    assert (await call(fast, search)).entered_stack  # answered from the new index


async def test_replays_spend_the_quota_and_are_refused_alike(front_apps: tuple[Any, Any]) -> None:
    await both(front_apps, PAGE)
    statuses = [(await both(front_apps, PAGE)).status for _ in range(QUOTA)]
    assert statuses == [200] * (QUOTA - 1) + [429]


async def test_a_replay_is_kept_no_longer_than_its_max_age() -> None:
    now = [0.0]

    async def stack(scope: Any, receive: Any, send: Any) -> None:
        body = b'{"items":[]}'
        headers = [(b"content-length", b"12"), (b"content-type", b"application/json"), (b"x-request-id", b"x" * 32)]
        await send({"type": "http.response.start", "status": 200, "headers": [*headers[:2], *_SECURITY, headers[2]]})
        await send({"type": "http.response.body", "body": body})
        stack.calls += 1  # type: ignore[attr-defined]

    stack.calls = 0  # type: ignore[attr-defined]
    replayed = ReplayedReads(
        stack,
        operations=OPERATIONS,
        generations={"dictionary": lambda state: 7},
        answers=FrontAnswers(limiter=None, tally=RequestTally()),
        max_age=60,
        clock=lambda: now[0],
    )
    for at in (0.0, 30.0, 59.0, 61.0, 62.0):
        now[0] = at
        await call(replayed, PAGE, state={"lexica": object()})
    assert stack.calls == 2  # type: ignore[attr-defined]  # at 0 s, and at 61 s when the first had expired


_SECURITY = FrontAnswers(limiter=None, tally=RequestTally()).closing


@pytest.mark.parametrize(
    "changes",
    [
        {"security": ("OAuth2Password",)},
        {"locations": {"prefix": ("header", "X-Prefix")}},
        {"method": "POST"},
        {"replay": "weather"},
    ],
)
def test_an_operation_that_cannot_be_replayed_faithfully_stops_the_start(changes: dict[str, Any]) -> None:
    operations = tuple(replace(op, **changes) if op.operation_id == "listWords" else op for op in OPERATIONS)
    with pytest.raises(ReplayMismatch, match="listWords"):
        ReplayedReads(
            LexicaApp(),
            operations=operations,
            generations={"dictionary": lambda state: 0},
            answers=FrontAnswers(limiter=None, tally=RequestTally()),
        )
