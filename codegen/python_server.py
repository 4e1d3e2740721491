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
_FASTAPI_SOURCES = {"path": "Path", "query": "Query", "header": "Header"}


@dataclass(frozen=True)
class ParamView:
    py_name: str
    annotation: str
    fastapi: str
    default: str | None


@dataclass(frozen=True)
class OperationView:
    operation_id: str
    py_name: str
    method: str
    path: str
    route_path: str
    summary: str
    class_name: str
    params: tuple[ParamView, ...]
    reply_type: str
    produces: tuple[str, ...]
    consumes: tuple[str, ...]
    statuses: tuple[int, ...]
    security: tuple[str, ...]
    role: str | None


@dataclass(frozen=True)
class TagView:
    name: str
    class_name: str
    operations: tuple[OperationView, ...]


def _param_view(param: Parameter) -> ParamView:
    if param.location not in _FASTAPI_SOURCES:
        raise ValueError(f"parameters in {param.location!r} are not supported: {param.name}")
    kwargs = constraint_kwargs(param.schema)
    py_name = snake(param.name)
    if param.location == "header" or py_name != param.name:
        kwargs.insert(0, f"alias={param.name!r}")
    if param.description:
        kwargs.append(f"description={param.description!r}")
    call = f"{_FASTAPI_SOURCES[param.location]}({', '.join(kwargs)})"
    return ParamView(py_name=py_name, annotation=annotation(param), fastapi=call, default=default_literal(param))


_BODY_SOURCES = {"application/json": "Body()", "application/x-www-form-urlencoded": "Form()"}


def _body_view(body: Any) -> ParamView:
    content = body.get("content", {})
    if len(content) != 1 or next(iter(content)) not in _BODY_SOURCES:
        raise ValueError(f"a request body must have exactly one of {sorted(_BODY_SOURCES)}, got {list(content)}")
    media_type, media = next(iter(content.items()))
    ref = Resolver.ref_name(media.get("schema"))
    if ref is None:
        raise ValueError("request body schemas must be a $ref to a component schema")
    required = bool(body.get("required", False))
    return ParamView(
        py_name="body",
        annotation=f"models.{ref}" if required else f"models.{ref} | None",
        fastapi=_BODY_SOURCES[media_type],
        default=None if required else "None",
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


def operation_view(op: Operation) -> OperationView:
    params = [_param_view(p) for p in op.parameters]
    # Required parameters first so that defaults never precede non-defaults in the binding's signature.
    params.sort(key=lambda p: p.default is not None)
    if op.request_body is not None:
        params.insert(0, _body_view(op.request_body))
    return OperationView(
        operation_id=op.operation_id,
        py_name=snake(op.operation_id),
        method=op.method,
        path=op.path,
        route_path=_route_path(op),
        summary=op.summary or op.operation_id,
        class_name=f"{pascal(op.tag)}Api",
        params=tuple(params),
        reply_type=_reply_type(op),
        produces=op.produces,
        consumes=op.consumes,
        security=op.security,
        role=op.role,
        statuses=tuple(int(r.status) for r in op.responses if r.status.isdigit()),
    )


def render(operations: Sequence[Operation]) -> dict[str, str]:
    """File name -> content for `interfaces.py` and `routes.py`."""
    views = [operation_view(op) for op in operations]
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
