"""Runtime helpers that the generated route bindings call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel

from lexica.platform.negotiation import acceptable
from lexica.platform.problems import ProblemError
from lexica.platform.reply import Reply, Serialised

ApiT = TypeVar("ApiT")


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


def ensure_acceptable(request: Request, produces: tuple[str, ...]) -> None:
    if not produces:
        return
    if not acceptable(request.headers.get("accept"), produces):
        raise ProblemError(406, f"This resource is available as: {', '.join(produces)}.")


def implementation(request: Request, api: type[ApiT]) -> ApiT:
    """The app's implementation of a generated interface class."""
    found = request.state.implementations[api]
    assert isinstance(found, api)
    return found


def render(reply: Reply[Any], operation: OperationInfo) -> Response:
    if reply.status not in operation.statuses:
        # A programming error: the implementation answered with a status the spec does not declare.
        raise RuntimeError(f"{operation.operation_id} answered {reply.status}, which the spec does not declare")
    body = reply.body
    if body is None:
        return Response(status_code=reply.status, headers=dict(reply.headers))
    if isinstance(body, Serialised):
        data = body.data
    elif isinstance(body, BaseModel):
        data = body.model_dump_json().encode()
    else:
        raise TypeError(f"{operation.operation_id} returned an unsupported body: {type(body).__name__}")
    media_type = operation.produces[0] if operation.produces else "application/json"
    return Response(data, status_code=reply.status, headers=dict(reply.headers), media_type=media_type)
