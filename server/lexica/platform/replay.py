"""Replayed reads: a public `GET` whose answer depends only on the request line and on state the server knows
changed, answered again without the stack until that state changes.

The spec marks such operations with `x-lexica-replay: <state>` (here `dictionary`: the headword listing and the
search, whose answers depend on the query and on the dictionary). The first request goes down the stack as any
other; its complete `200` is kept, without what the stack's layers add per request (request id, rate-limit headers),
with the state's generation at the time. A later request with the same path and query string, and nothing the
stack alone handles (credentials, `Origin`, a body, an `Accept` the operation cannot satisfy), is answered with it
while the generation is the same and for at most `max_age` seconds — as long as the stack's own caches keep such an
answer — and gets its own request id, rate limit and access log line like any other (`FrontAnswers`).

The stack stays the only place where the operation is validated and implemented: only what it answered is replayed,
and a request line that was refused (400, 422) is never kept. `server/tests/platform/test_replay.py` compares
replayed answers with the stack's, header for header.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lexica.platform.binding import OperationInfo
from lexica.platform.front import Acceptance, FrontAnswers, Headers, read_headers

Generation = Callable[[Mapping[str, Any]], int]  # the state's generation, read from the lifespan state
MAX_AGE_SECONDS = 60.0
MAX_KEPT = 4096  # answers kept per operation
_WANTED_HEADERS = frozenset({b"x-request-id", b"accept"})


class ReplayMismatch(RuntimeError):
    """An operation marked for replay that this layer cannot replay faithfully."""


@dataclass(frozen=True, slots=True)
class _Kept:
    generation: int
    expires: float
    head: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class _Replayable:
    operation_id: str
    generation: Generation
    acceptable: Acceptance


def _replayable(operation: OperationInfo, generations: Mapping[str, Generation]) -> _Replayable:
    problems = []
    if operation.method != "GET":
        problems.append(f"method {operation.method}")
    if operation.security:
        problems.append("it needs credentials")
    if "{" in operation.route_path:
        problems.append("its path has parameters")
    if any(where != "query" for where, _ in operation.locations.values()):
        problems.append("it has parameters outside the query")
    if operation.replay not in generations:
        problems.append(f"no generation is known for {operation.replay!r}")
    if problems:
        raise ReplayMismatch(f"{operation.operation_id} is marked x-lexica-replay but {', '.join(problems)}")
    return _Replayable(operation.operation_id, generations[operation.replay or ""], Acceptance(operation.produces))


class ReplayedReads:
    """Pure ASGI: answers repeated requests of the operations marked `x-lexica-replay` with the stack's answer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        operations: Sequence[OperationInfo],
        generations: Mapping[str, Generation],
        answers: FrontAnswers,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self._by_path = {op.route_path: _replayable(op, generations) for op in operations if op.replay}
        self._kept: dict[str, dict[bytes, _Kept]] = {path: {} for path in self._by_path}
        self._answers = answers
        self._max_age = max_age
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replayable = self._by_path.get(scope["path"]) if scope["type"] == "http" else None
        if (
            replayable is None
            or scope["method"] != "GET"
            or (state := scope.get("state")) is None
            or "lexica" not in state
            or (wanted := read_headers(scope, _WANTED_HEADERS)) is None
            or not replayable.acceptable(wanted.get(b"accept"))
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        generation = replayable.generation(state)
        kept_here = self._kept[scope["path"]]
        kept = kept_here.get(scope["query_string"])
        if kept is not None and kept.generation == generation and kept.expires > self._clock():
            incoming_id = wanted.get(b"x-request-id", "")
            await self._answers.send(
                scope,
                send,
                route=scope["path"],  # a replayable operation's path has no parameters: it is the template
                started=started,
                incoming_id=incoming_id,
                status=200,
                head=kept.head,
                body=kept.body,
            )
            return
        await self._through_the_stack(scope, receive, send, replayable, generation, kept_here)

    async def _through_the_stack(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        replayable: _Replayable,
        generation: int,
        kept_here: dict[bytes, _Kept],
    ) -> None:
        """The stack answers; a complete 200 is kept if the state did not change while it was made."""
        status = 0
        headers: Headers = []
        chunks: list[bytes] = []
        complete = False

        async def keeping(message: Message) -> None:
            nonlocal status, headers, complete
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, keeping)
        if status != 200 or not complete or replayable.generation(scope["state"]) != generation:
            return
        head = self._answers.entity_headers(headers)
        if head is None:
            return
        if len(kept_here) >= MAX_KEPT:
            del kept_here[next(iter(kept_here))]  # the oldest
        kept_here[scope["query_string"]] = _Kept(generation, self._clock() + self._max_age, head, b"".join(chunks))
