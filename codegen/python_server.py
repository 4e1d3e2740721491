"""Render the server's interfaces and route bindings from the spec's operations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from codegen.naming import annotation, constraint_kwargs, default_literal, pascal, snake
from codegen.spec import Operation, Parameter, Resolver

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ParamView:
    py_name: str
    name: str  # as the spec names it
    location: str  # path, query or header
    annotation: str
    field: str  # pydantic `Field(...)` enforcing the schema's constraints
    default: str | None
    is_array: bool


@dataclass(frozen=True)
class BodyView:
    model: str
    media_type: str
    required: bool
    ndjson_upload: bool = False  # `application/x-ndjson` is accepted next to JSON: the body may be an NdjsonUpload

    @property
    def annotation(self) -> str:
        return f"{self.model} | NdjsonUpload" if self.ndjson_upload else self.model


@dataclass(frozen=True)
class OperationView:
    operation_id: str
    py_name: str
    method: str
    path: str
    route_path: str
    summary: str
    class_name: str
    params_model: str
    params: tuple[ParamView, ...]
    body: BodyView | None
    reply_type: str
    produces: tuple[str, ...]
    consumes: tuple[str, ...]
    statuses: tuple[int, ...]
    security: tuple[str, ...]
    anonymous_allowed: bool
    role: str | None
    middleware_headers: tuple[str, ...] = ()  # lowercase names of header parameters a middleware handles
    replay: str | None = None  # `x-lexica-replay`
    rate_limited: bool = True  # not `x-lexica-rate-limit: exempt`
    deprecation_headers: tuple[tuple[str, str], ...] = ()  # `deprecated: true`: Deprecation and Sunset
    reserved_ends: tuple[str, ...] = ()  # see `_reserved_ends`


@dataclass(frozen=True)
class TagView:
    name: str
    class_name: str
    operations: tuple[OperationView, ...]


def _param_view(param: Parameter) -> ParamView:
    if param.location not in _SOURCES:
        raise ValueError(f"parameters in {param.location!r} are not supported: {param.name}")
    return ParamView(
        py_name=snake(param.name),
        name=param.name,
        location=param.location,
        annotation=annotation(param),
        field=f"Field({', '.join(constraint_kwargs(param.schema))})",
        default=default_literal(param),
        is_array=param.schema.get("type") == "array",
    )


_SOURCES = ("path", "query", "header")
_NDJSON = "application/x-ndjson"
_BODY_MEDIA_TYPES = ("application/json", "application/merge-patch+json", "application/x-www-form-urlencoded")


def _body_view(body: Any) -> BodyView:
    content = dict(body.get("content", {}))
    # An NDJSON upload may be offered next to one JSON body: the operation then receives either.
    ndjson_upload = content.pop(_NDJSON, None) is not None
    if len(content) != 1 or next(iter(content)) not in _BODY_MEDIA_TYPES:
        raise ValueError(f"a request body must have exactly one of {_BODY_MEDIA_TYPES}, got {list(content)}")
    media_type, media = next(iter(content.items()))
    ref = Resolver.ref_name(media.get("schema"))
    if ref is None:
        raise ValueError("request body schemas must be a $ref to a component schema")
    return BodyView(
        model=f"models.{ref}",
        media_type=media_type,
        required=bool(body.get("required", False)),
        ndjson_upload=ndjson_upload,
    )


def _route_path(op: Operation) -> str:
    path = op.path
    for param in op.parameters:
        if param.location == "path" and param.allow_slash:
            path = path.replace("{" + param.name + "}", "{" + param.name + ":path}")
    return path


def _reply_type(op: Operation) -> str:
    refs = sorted({r.schema_ref for r in op.success_responses if r.schema_ref is not None})
    return " | ".join(f"models.{ref}" for ref in refs) if refs else "None"


def _reserved_ends(op: Operation, operations: Sequence[Operation]) -> tuple[str, ...]:
    """The literal ends with which other paths continue this one after its `/`-taking last parameter (`/related`
    after `/api/v1/words/{headword}`): a request path ending so is theirs, never this operation's."""
    if not any(p.location == "path" and p.allow_slash for p in op.parameters):
        return ()
    continued = (other.path.removeprefix(op.path) for other in operations if other.path.startswith(op.path + "/"))
    return tuple(sorted({end for end in continued if "{" not in end}))


def operation_view(op: Operation, operations: Sequence[Operation] = ()) -> OperationView:
    params = [_param_view(p) for p in op.parameters if not p.middleware]
    # Required parameters first so that defaults never precede non-defaults in the parameters model.
    params.sort(key=lambda p: p.default is not None)
    return OperationView(
        operation_id=op.operation_id,
        py_name=snake(op.operation_id),
        method=op.method,
        path=op.path,
        route_path=_route_path(op),
        summary=op.summary or op.operation_id,
        class_name=f"{pascal(op.tag)}Api",
        params_model=f"_{pascal(op.operation_id)}Parameters",
        params=tuple(params),
        body=_body_view(op.request_body) if op.request_body is not None else None,
        reply_type=_reply_type(op),
        produces=op.produces,
        consumes=op.consumes,
        security=op.security,
        anonymous_allowed=op.anonymous_allowed,
        role=op.role,
        middleware_headers=tuple(p.name.lower() for p in op.parameters if p.middleware and p.location == "header"),
        replay=op.replay,
        rate_limited=op.rate_limited,
        deprecation_headers=op.deprecation_headers,
        reserved_ends=_reserved_ends(op, operations),
        statuses=tuple(int(r.status) for r in op.responses if r.status.isdigit()),
    )


def render(operations: Sequence[Operation]) -> dict[str, str]:
    """File name -> content for `interfaces.py` and `routes.py`."""
    views = [operation_view(op, operations) for op in operations]
    by_tag: dict[str, list[OperationView]] = {}
    for op, view in zip(operations, views, strict=True):
        by_tag.setdefault(op.tag, []).append(view)
    tags = sorted(
        (TagView(name=name, class_name=f"{pascal(name)}Api", operations=tuple(ops)) for name, ops in by_tag.items()),
        key=lambda t: t.name,
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - renders Python source, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    context = {"tags": tags, "operations": views}
    return {
        "interfaces.py": env.get_template("interfaces.py.j2").render(context),
        "routes.py": env.get_template("routes.py.j2").render(context),
    }
