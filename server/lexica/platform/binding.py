"""Runtime helpers that the generated route bindings call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from lexica.platform.ndjson import ndjson_lines
from lexica.platform.negotiation import acceptable
from lexica.platform.nulls import refused_nulls
from lexica.platform.problems import ProblemError, validation_problem
from lexica.platform.reply import EventStream, Reply, Serialised, Streamed
from lexica.platform.running import require_running

ApiT = TypeVar("ApiT")
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class OperationInfo:
    """What the spec says about one operation, as the generated bindings record it."""

    operation_id: str
    method: str
    path: str
    route_path: str
    produces: tuple[str, ...]
    statuses: tuple[int, ...]
    consumes: tuple[str, ...] = ()
    security: tuple[str, ...] = ()  # schemes that may authenticate; empty means public
    role: str | None = None  # least role required, from `x-lexica-role`
    locations: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # field -> (in, name in the spec)
    middleware_headers: frozenset[str] = frozenset()  # header parameters a middleware handles (lowercase)
    replay: str | None = None  # `x-lexica-replay`: the state a 200 answer depends on besides the request line
    rate_limited: bool = True  # False: `x-lexica-rate-limit: exempt` (no quota spent, no RateLimit headers)
    # `deprecated: true`: `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) on every answer its implementation returns
    deprecation_headers: tuple[tuple[str, str], ...] = ()
    # Literal ends with which other operations' paths continue this one after its `/`-taking last parameter
    # (`/related` after `{headword}`): a request path ending so is never this operation's.
    reserved_ends: tuple[str, ...] = ()


def ensure_acceptable(request: Request, produces: tuple[str, ...]) -> None:
    if not produces:
        return
    if not acceptable(request.headers.get("accept"), produces):
        raise ProblemError(406, f"This resource is available as: {', '.join(produces)}.")


def implementation(request: Request, api: type[ApiT]) -> ApiT:
    """The app's implementation of a generated interface class."""
    found = require_running(request.scope.get("state")).implementations[api]
    assert isinstance(found, api)
    return found


def render(reply: Reply[Any], operation: OperationInfo) -> Response:
    if reply.status not in operation.statuses:
        # A programming error: the implementation answered with a status the spec does not declare.
        raise RuntimeError(f"{operation.operation_id} answered {reply.status}, which the spec does not declare")
    if operation.deprecation_headers:
        reply = replace(reply, headers={**reply.headers, **dict(operation.deprecation_headers)})
    body = reply.body
    if body is None:
        return Response(status_code=reply.status, headers=dict(reply.headers))
    if isinstance(body, EventStream):
        return EventSourceResponse(
            body.events,
            status_code=reply.status,
            headers=dict(reply.headers),
            ping=body.ping_seconds,
            ping_message_factory=lambda: ServerSentEvent(comment="ping"),
        )
    if isinstance(body, Streamed):
        media_type = operation.produces[0] if operation.produces else "application/x-ndjson"
        return StreamingResponse(
            _ndjson(body.items), status_code=reply.status, headers=dict(reply.headers), media_type=media_type
        )
    if isinstance(body, Serialised):
        data = body.data
    elif isinstance(body, BaseModel):
        data = body.model_dump_json().encode()
    else:
        raise TypeError(f"{operation.operation_id} returned an unsupported body: {type(body).__name__}")
    media_type = operation.produces[0] if operation.produces else "application/json"
    return Response(data, status_code=reply.status, headers=dict(reply.headers), media_type=media_type)


async def _ndjson(items: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for item in items:
        if isinstance(item, Serialised):
            yield item.data + b"\n"
        elif isinstance(item, BaseModel):
            yield item.model_dump_json().encode() + b"\n"
        else:
            raise TypeError(f"a streamed body yields models, not {type(item).__name__}")


class InvalidRequest(RequestValidationError):
    """A 422 validation problem raised by a route binding, naming the operation it belongs to."""

    def __init__(self, errors: list[Any], operation: OperationInfo) -> None:
        super().__init__(errors)
        self.operation_id = operation.operation_id


def _errors(error: ValidationError, locate: Mapping[str, tuple[str, ...]] | None, prefix: tuple[str, ...]) -> list[Any]:
    found = []
    for item in error.errors(include_url=False, include_input=False):
        loc = tuple(item["loc"])
        if locate is not None and loc and isinstance(loc[0], str) and loc[0] in locate:
            loc = (*locate[loc[0]], *loc[1:])
        found.append({**item, "loc": (*prefix, *loc)})
    return found


def parameters(model: type[ModelT], raw: Mapping[str, object], operation: OperationInfo) -> ModelT:
    """Validate path, query and header values (strings, coerced by the model) or raise a 422 problem."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise InvalidRequest(_errors(error, operation.locations, ()), operation) from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_content_type(request: Request, operation: OperationInfo) -> None:
    media_type = _media_type(request)
    if media_type not in operation.consumes:
        expected = " or ".join(operation.consumes)
        raise ProblemError(
            415,
            f"Send the body as {expected}, not {media_type or 'without a Content-Type'}.",
            slug="unsupported-media-type",
            title="Unsupported Media Type",
        )


def _missing_body(operation: OperationInfo) -> InvalidRequest:
    return InvalidRequest([{"loc": ("body",), "msg": "A request body is required.", "type": "missing"}], operation)


async def json_body(
    request: Request, model: type[ModelT], operation: OperationInfo, *, required: bool
) -> ModelT | None:
    raw = await request.body()
    if not raw:
        if required:
            raise _missing_body(operation)
        return None
    _check_content_type(request, operation)
    try:
        body = model.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidRequest(_errors(error, None, ("body",)), operation) from None
    if _media_type(request) == "application/json" and (nulls := refused_nulls(operation.operation_id, raw)):
        raise validation_problem("The body holds null where the contract allows no null.", *nulls)
    return body


@dataclass(frozen=True, slots=True)
class NdjsonUpload:
    """A request body sent as NDJSON; read it line by line without holding it whole (the body-size limit applies)."""

    request: Request

    async def lines(self) -> AsyncIterator[tuple[int, bytes]]:
        """(line number from 1, line without its newline) for every non-blank line."""
        number = 0
        async for line in ndjson_lines(self.request.stream()):
            number += 1
            if line.strip():
                yield number, line


_NDJSON = "application/x-ndjson"


async def json_or_ndjson_body(request: Request, model: type[ModelT], operation: OperationInfo) -> ModelT | NdjsonUpload:
    """The JSON body as `model`, or the NDJSON upload an operation also accepts."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == _NDJSON:
        return NdjsonUpload(request)
    body = await json_body(request, model, operation, required=True)
    assert body is not None  # required=True raises instead of returning None
    return body


async def form_body(
    request: Request, model: type[ModelT], operation: OperationInfo, *, required: bool
) -> ModelT | None:
    if not await request.body():
        if required:
            raise _missing_body(operation)
        return None
    _check_content_type(request, operation)
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise InvalidRequest(_errors(error, None, ("body",)), operation) from None


class _ReservedEndsRoute(Route):
    """A route whose last parameter may hold `/` (`{headword:path}`) but that leaves the paths other operations
    continue it with to them: `PUT /api/v1/words/apple/related` does not match `replaceEntry` with the headword
    `apple/related` (a 422 for its missing body) but only `getRelatedEntries`' path, so it is answered `405`."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, methods: list[str], name: str, ends: tuple[str, ...]
    ):
        super().__init__(path, endpoint, methods=methods, name=name)
        self._ends = ends

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and str(scope["path"]).endswith(self._ends):  # the end alone: a root_path is fine
            return Match.NONE, {}
        return super().matches(scope)


def spec_route(operation: OperationInfo, handler: Callable[[Request], Awaitable[Response]]) -> Route:
    """The route of one operation, on its exact method (Starlette adds HEAD to GET routes; the spec does not)."""
    if operation.reserved_ends:
        route: Route = _ReservedEndsRoute(
            operation.route_path,
            handler,
            methods=[operation.method],
            name=operation.operation_id,
            ends=operation.reserved_ends,
        )
    else:
        route = Route(operation.route_path, handler, methods=[operation.method], name=operation.operation_id)
    route.methods = {operation.method}
    return route
