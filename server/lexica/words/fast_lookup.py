"""`getEntry` answered in one step, in front of the middleware stack.

A cached lookup is most of a dictionary's traffic, and through the whole stack (seven middleware layers, the router,
the generated binding, the response class) it cost several times what its work needs. This layer answers it
directly when that is safe, and otherwise hands the request to the stack untouched:

- only `GET` on the operation's path, without a query string, a body, credentials or an `Origin` (the stack's CORS,
  authentication and body handling are not repeated here), with an `Accept` the operation can satisfy, values the
  operation's parameter model accepts, and no `Cache-Control` asking for a fresh copy;
- only an entry that exists: a miss is read from storage as the stack reads it (single-flight, counted as a miss,
  cached); an entry that does not exist, or a read that fails, goes down the stack, which answers the 404 or 503.

What it answers is what the stack would answer, byte for byte but for the request id: the spec's own parameter
model (generated) validates, and the stack's own functions pick the request id, spend the rate limit (and refuse
with the same 429), compare the ETag, set the entry's headers and log the access; the same header blocks are sent
in the same order. It is built from the spec's `getEntry` operation and refuses to start when that operation no
longer has the shape it handles (another parameter, a security requirement, another media type, another GET
route under the same path but `{headword}/<end>`, whose requests it hands down), so the spec cannot change under
it unnoticed. `server/tests/words/test_fast_lookup.py`
sends the same requests through both and compares them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from lexica._generated.interfaces import WordsApi
from lexica.platform.binding import OperationInfo
from lexica.platform.etags import if_none_match_matches
from lexica.platform.front import Acceptance, FrontAnswers, read_headers
from lexica.platform.rate_limit import RateLimitDecision, already_spent
from lexica.platform.running import running_of
from lexica.words.endpoints import WordsEndpoints, wants_fresh
from lexica.words.service import EntryView

OPERATION_ID = "getEntry"
PATH_PARAMETER = "headword"
# The operation's parameters, as this layer reads them: where the spec puts each one.
HANDLED_PARAMETERS = {
    "headword": ("path", "headword"),
    "if_none_match": ("header", "If-None-Match"),
    "cache_control": ("header", "Cache-Control"),
}
_WANTED_HEADERS = frozenset({b"x-request-id", b"accept", b"if-none-match", b"cache-control"})
_CONTENT_TYPE = b"application/json"


MEMO_SIZE = 4096  # entries whose encoded headers are kept


@dataclass(frozen=True, slots=True)
class _Heads:
    view: EntryView  # the cached view these were made for: a new view (a new read) makes them anew
    ok: list[tuple[bytes, bytes]]  # 200: the entry's headers, then Content-Length and Content-Type
    not_modified: list[tuple[bytes, bytes]]  # 304: the entry's headers


@dataclass(frozen=True, slots=True)
class _ToTheStack:
    """The request goes down the stack; `spent`: the quota this layer already spent on it (the stack does not
    spend it again)."""

    spent: RateLimitDecision | None = None


_UNSPENT = _ToTheStack()


class FastPathMismatch(RuntimeError):
    """The spec's `getEntry` changed shape: the fast path must be brought in line before the app starts."""


def _route_prefix(operation: OperationInfo, operations: Sequence[OperationInfo]) -> str:
    """The path before the headword, after checking that the operation still has the shape handled here."""
    found = []
    if operation.method != "GET":
        found.append(f"method {operation.method}")
    if operation.security:
        found.append(f"security {operation.security}")
    if dict(operation.locations) != HANDLED_PARAMETERS:
        found.append(f"parameters {dict(operation.locations)}")
    if operation.produces != ("application/json",):
        found.append(f"media types {operation.produces}")
    if not {200, 304, 429} <= set(operation.statuses):
        found.append(f"statuses {operation.statuses}")
    suffix = "{" + PATH_PARAMETER + ":path}"
    prefix = operation.route_path.removesuffix(suffix)
    if prefix == operation.route_path or "{" in prefix:
        found.append(f"route {operation.route_path}")
    # A path that is the headword followed by a literal end ("{headword}/related", the spec's `reserved_ends`) is
    # told apart by that end and handed down; any other GET path under the prefix would be shadowed.
    continued = {operation.path + end for end in operation.reserved_ends}
    shadowing = [
        other.operation_id
        for other in operations
        if other is not operation
        and other.method == "GET"
        and other.path.startswith(prefix)
        and other.path not in continued
    ]
    if shadowing:
        found.append(f"other GET operations under {prefix}: {shadowing}")
    if found:
        raise FastPathMismatch(
            f"the spec's {OPERATION_ID} is not what lexica.words.fast_lookup handles ({'; '.join(found)}): "
            "extend the fast path (and its test) or take it out of lexica.app"
        )
    return prefix


class FastEntryLookup:
    """Pure ASGI: answers `getEntry` for an entry that exists itself, passes every other request to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        operations: Sequence[OperationInfo],
        parameter_models: dict[str, type[BaseModel]],
        answers: FrontAnswers,
    ) -> None:
        self.app = app
        operation = next(op for op in operations if op.operation_id == OPERATION_ID)
        self._prefix = _route_prefix(operation, operations)
        self._handed_down = operation.reserved_ends  # paths of other operations: the stack answers them
        self._route = operation.path
        self._start = len(self._prefix)
        self._parameters = parameter_models[OPERATION_ID]
        self._acceptable = Acceptance(operation.produces)
        self._answers = answers
        self._memo: dict[str, _Heads] = {}
        self._validated: dict[tuple[tuple[str, str], ...], bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["query_string"]
            or not scope["path"].startswith(self._prefix)
            or scope["path"].endswith(self._handed_down)
            or (wanted := read_headers(scope, _WANTED_HEADERS)) is None
        ):
            await self.app(scope, receive, send)
            return
        handed_down = await self._answered(scope, send, wanted)
        if handed_down is not None:
            with already_spent(handed_down.spent):
                await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, send: Send, wanted: dict[bytes, str]) -> _ToTheStack | None:
        """Answers the request (None), or says what the stack must answer it with (having done nothing but,
        perhaps, spent its quota and read storage)."""
        started = time.perf_counter()
        running = running_of(scope.get("state"))
        implementations = running.implementations if running is not None else None
        if implementations is None or not self._acceptable(wanted.get(b"accept")):
            return _UNSPENT  # not started (no lifespan) or a 406: the stack says so
        headword = scope["path"][self._start :]
        raw = {"headword": headword}
        if (if_none_match := wanted.get(b"if-none-match")) is not None:
            raw["if_none_match"] = if_none_match
        if (cache_control := wanted.get(b"cache-control")) is not None:
            raw["cache_control"] = cache_control
        if not self._valid(raw):
            return _UNSPENT  # the stack answers 422
        if cache_control is not None and wants_fresh(cache_control):
            return _UNSPENT
        endpoints = implementations[WordsApi]
        assert isinstance(endpoints, WordsEndpoints)
        service = endpoints.service
        view = service.cached(headword)
        spent = None
        if view is None:
            # A miss: the quota is spent first, as the stack spends it (a refused client causes no storage read),
            # then the storage read the stack would make (single-flight, counted, cached), then the same answer.
            spent = await self._answers.spend(scope)
            if spent is None or spent.allowed:
                try:
                    view = await service.entry(headword)
                except Exception:  # the stack reads again and answers the failure as it must (a 503 ...)
                    return _ToTheStack(spent)
                if view is None:
                    return _ToTheStack(spent)  # the stack answers the 404 with its problem document
        if view is None:  # the quota refused the request: `send` answers the stack's 429 from `spent`
            status, head, body = 429, [], b""
        elif if_none_match is not None and if_none_match_matches(if_none_match, view.etag):
            status, head, body = 304, self._heads(endpoints, view).not_modified, b""
        else:
            status, head, body = 200, self._heads(endpoints, view).ok, view.body.data
        incoming_id = wanted.get(b"x-request-id", "")
        await self._answers.send(
            scope,
            send,
            route=self._route,
            started=started,
            incoming_id=incoming_id,
            status=status,
            head=head,
            body=body,
            spent=spent,
        )
        return None

    def _valid(self, raw: dict[str, str]) -> bool:
        """Whether the spec's parameter model accepts these values: validated once per distinct set of values (a
        pure function of them), then remembered, as most requests repeat the values of recent ones."""
        key = tuple(raw.items())
        known = self._validated.get(key)
        if known is None:
            try:
                self._parameters.model_validate(raw)
                known = True
            except ValidationError:
                known = False
            if len(self._validated) >= MEMO_SIZE:
                self._validated.clear()
            self._validated[key] = known
        return known

    def _heads(self, endpoints: WordsEndpoints, view: EntryView) -> _Heads:
        """The response headers the entry's answers start with, encoded once per cached entry (not per request)."""
        memo = self._memo
        heads = memo.get(view.etag)
        if heads is None or heads.view is not view:
            entity = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in endpoints.entry_headers(view).items()
            ]
            length = str(len(view.body.data)).encode("latin-1")
            heads = _Heads(view, [*entity, (b"content-length", length), (b"content-type", _CONTENT_TYPE)], entity)
            if len(memo) >= MEMO_SIZE:
                del memo[next(iter(memo))]  # the oldest: a memo, not a cache; re-encoding costs microseconds
            memo[view.etag] = heads
        return heads
