"""The SDK's public resource layer (`lexica_client/resources.py`), generated from the spec's operations.

One class per tag (`Words`, `AsyncWords`, ...), one method per operation, named by the operation's
`x-lexica-sdk-method`. Each class has a twin under `with_raw_response` whose methods return `APIResponse[T]`;
the plain method is the raw one's `parse()`. Everything the methods share at run time is hand-written in
`lexica_client/_runtime.py`; this module only decides, per operation, the signature and which runtime pieces to
use: path, query and header parameters (`If-Match` is the keyword `etag`; an `Idempotency-Key` is generated
when not given), the body (a model of `lexica_client.models` or a plain mapping), and the result (a model;
`Tagged[model]` when the response carries an ETag; `NotModified` when `if_none_match` matched; `Page[item]` for
cursor-paged listings; `Stream[item]` for NDJSON and server-sent events; `None` for 204).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from codegen.naming import snake
from codegen.spec import Operation, Parameter, Resolver

_JSON = "application/json"
_MERGE_PATCH = "application/merge-patch+json"
_FORM = "application/x-www-form-urlencoded"
_NDJSON = "application/x-ndjson"
_SSE = "text/event-stream"
_TEXT = "text/plain"

# Header parameters: the keyword each one is, and whether the SDK fills it in itself.
_HEADER_KEYWORDS = {
    "If-Match": "etag",
    "If-None-Match": "if_none_match",
    "Idempotency-Key": "idempotency_key",
    "Cache-Control": "cache_control",
    "Last-Event-ID": "last_event_id",
}
# NDJSON line schemas: the item type and the function of `lexica_client._decoders` that parses a line.
_NDJSON_ITEMS = {
    "ListExportLine": ("_m.ListExportLine", "list_export_line"),
    "ExportLine": ("ExportLine", "export_line"),
}
_DECODER_NAMES = (
    "ExportLine",
    "JobEvent",
    "ajob_events",
    "andjson",
    "export_line",
    "job_events",
    "list_export_line",
    "ndjson",
)
_RUNTIME_NAMES = (
    "NOT_GIVEN",
    "APIResponse",
    "AsyncPage",
    "AsyncStream",
    "Call",
    "NotGiven",
    "NotModified",
    "Page",
    "Stream",
    "Tagged",
    "Timeout",
    "build_request",
    "document",
    "expect_status",
    "form",
    "new_idempotency_key",
    "parse_model",
    "path",
    "present",
    "query",
    "tagged",
)
_OPTIONS_PARAMS = (
    "timeout: Timeout | NotGiven = NOT_GIVEN",
    "max_retries: int | None = None",
    "extra_headers: Mapping[str, str] | None = None",
    "extra_query: Mapping[str, Any] | None = None",
)
_OPTIONS_ARGS = "timeout=timeout, max_retries=max_retries, extra_headers=extra_headers, extra_query=extra_query"


def _python_name(name: str) -> str:
    value = snake(name.replace("-", "_"))
    return f"{value}_" if keyword.iskeyword(value) else value


def _class_name(tag: str) -> str:
    return "".join(part.capitalize() for part in tag.replace("-", "_").split("_"))


@dataclass
class _Arg:
    name: str
    annotation: str
    default: str | None = None  # None: required
    positional: bool = False

    def declaration(self) -> str:
        return f"{self.name}: {self.annotation}" + ("" if self.default is None else f" = {self.default}")


@dataclass
class _Method:
    name: str
    operation: Operation
    args: list[_Arg] = field(default_factory=list)
    result: str = "None"
    parse: str = "lambda _: None"  # an expression over `response` giving the result
    statuses: tuple[int, ...] = ()
    stream: bool = False
    page_of: str | None = None  # the item type of a cursor-paged listing
    not_modified: bool = False
    call_lines: list[str] = field(default_factory=list)


class _Planner:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self._resolver = Resolver(document)
        self._schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})

    def _param_type(self, parameter: Parameter) -> str:
        if parameter.schema_ref is not None and "enum" in parameter.schema:
            return f"_m.{parameter.schema_ref} | str"
        return {"integer": "int", "boolean": "bool", "number": "float"}.get(str(parameter.schema.get("type")), "str")

    def _page_item(self, schema_ref: str | None) -> str | None:
        schema = self._schemas.get(schema_ref or "", {})
        properties = schema.get("properties", {})
        if "items" not in properties or "next_cursor" not in properties:
            return None
        return Resolver.ref_name(properties["items"].get("items"))

    def plan(self, operation: Operation) -> _Method:
        if operation.sdk_method is None:
            raise ValueError(f"{operation.operation_id} has no x-lexica-sdk-method")
        method = _Method(operation.sdk_method, operation)
        path_values: list[str] = []
        query_values: list[str] = []
        header_values: list[str] = []
        keywords: list[_Arg] = []
        for parameter in operation.parameters:
            if parameter.location == "path":
                name = _python_name(parameter.name)
                is_uuid = parameter.schema.get("format") == "uuid"  # models hold ids as UUID: take either
                method.args.append(_Arg(name, "str | UUID" if is_uuid else "str", positional=True))
                path_values.append(f"{parameter.name}={name}")
            elif parameter.location == "query":
                name = _python_name(parameter.name)
                annotation = self._param_type(parameter)
                if parameter.required:
                    method.args.append(_Arg(name, annotation, positional=True))
                else:
                    keywords.append(_Arg(name, f"{annotation} | None", "None"))
                query_values.append(f"{parameter.name}={name}")
            elif parameter.location == "header":
                name = _HEADER_KEYWORDS.get(parameter.name, _python_name(parameter.name))
                if name == "etag":  # the server refuses a write without it (428): required here
                    keywords.insert(0, _Arg(name, "str"))
                else:
                    keywords.append(_Arg(name, "str | None", "None"))
                value = "idempotency_key or new_idempotency_key()" if name == "idempotency_key" else name
                header_values.append(f'"{parameter.name}": {value}')
        body_expression = self._body(operation, method)
        method.args.extend(keywords)
        self._result(operation, method)
        path_expression = (
            f'path("{operation.path}", {", ".join(path_values)})' if path_values else f'"{operation.path}"'
        )
        header_items = ", ".join(header_values)
        method.call_lines = [
            f'"{operation.method.upper()}"',
            path_expression,
            f"query({', '.join(query_values)})",
            f"present({{{header_items}}})",
            *body_expression,
        ]
        if method.stream:
            accept = _SSE if _SSE in operation.produces else _NDJSON
            method.call_lines += [f'accept="{accept}, application/problem+json"', "stream=True"]
        elif method.result == "str":
            method.call_lines += [f'accept="{_TEXT}, application/problem+json"']
        return method

    def _body(self, operation: Operation, method: _Method) -> list[str]:
        if operation.request_body is None:
            return []
        content = operation.request_body.get("content", {})
        required = bool(operation.request_body.get("required", False))
        types = list(content)
        primary = types[0]
        schema_ref = Resolver.ref_name(content[primary].get("schema"))
        model = f"_m.{schema_ref}" if schema_ref else "Any"
        annotation = f"{model} | Mapping[str, Any]"
        others = [t for t in types[1:] if t == _NDJSON]
        if others:
            annotation += " | bytes"
        method.args.append(
            _Arg("body", annotation if required else f"{annotation} | None", None if required else "None", True)
        )
        if primary == _FORM:
            return ["form_body=form(body)"]
        if not others:
            return ["json_body=document(body)", f'content_type="{primary}"']
        lines = ["json_body=None if isinstance(body, bytes) else document(body)"]
        lines += ["content=body if isinstance(body, bytes) else None"]
        lines += [f'content_type="{_NDJSON}" if isinstance(body, bytes) else "{_JSON}"']
        return lines

    def _result(self, operation: Operation, method: _Method) -> None:
        successes = [r for r in operation.success_responses if r.status != "304"]
        method.statuses = tuple(int(r.status) for r in successes)
        method.not_modified = any(r.status == "304" for r in operation.responses)
        first = successes[0]
        if _SSE in first.content_types:
            method.stream, method.result = True, "Stream[JobEvent]"
            method.parse = "lambda r: Stream(r, job_events)"
            return
        if _NDJSON in first.content_types:
            item, decoder = _NDJSON_ITEMS[first.schema_ref or ""]
            method.stream, method.result = True, f"Stream[{item}]"
            method.parse = f"lambda r: Stream(r, ndjson({decoder}))"
            return
        if any(t.split(";", 1)[0].strip() == _TEXT for t in first.content_types):
            method.result, method.parse = "str", "lambda r: r.text"
            return
        if first.schema_ref is None:
            return
        model = f"_m.{first.schema_ref}"
        page_item = self._page_item(first.schema_ref)
        if page_item is not None and any(p.name == "cursor" for p in operation.parameters):
            method.page_of = f"_m.{page_item}"
            method.result = f"Page[_m.{page_item}]"
            method.parse = f"lambda r: Page(parse_model(r, {model}), fetch, cursor)"
        elif "ETag" in first.headers:
            method.result = f"Tagged[{model}]"
            method.parse = f"lambda r: tagged(r, {model})"
        else:
            method.result = model
            method.parse = f"lambda r: parse_model(r, {model})"


def _sync_to_async(text: str) -> str:
    return (
        text.replace("Stream[", "AsyncStream[")
        .replace("Stream(r, job_events)", "AsyncStream(r, ajob_events)")
        .replace("Stream(r, ndjson(", "AsyncStream(r, andjson(")
        .replace("Page[", "AsyncPage[")
        .replace("Page(parse_model", "AsyncPage(parse_model")
    )


def _signature(method: _Method, *, asynchronous: bool, result: str, name: str | None = None) -> list[str]:
    positional = [a.declaration() for a in method.args if a.positional]
    keywords = [a.declaration() for a in method.args if not a.positional]
    params = ["self", *positional, "*", *keywords, *_OPTIONS_PARAMS]
    prefix = "async def" if asynchronous else "def"
    return [f"    {prefix} {name or method.name}(", *(f"        {p}," for p in params), f"    ) -> {result}:"]


def _forward(method: _Method, *, cursor: str | None = None) -> str:
    parts = [a.name for a in method.args if a.positional]
    for arg in method.args:
        if not arg.positional:
            value = cursor if cursor is not None and arg.name == "cursor" else arg.name
            parts.append(f"{arg.name}={value}")
    parts.append(_OPTIONS_ARGS)
    return ", ".join(parts)


def _raw_method(method: _Method, *, asynchronous: bool) -> list[str]:
    result = method.result if not method.not_modified else f"{method.result} | NotModified"
    if asynchronous:
        result = _sync_to_async(result)
    doc = method.operation.summary.replace('"""', "'''")
    lines = _signature(method, asynchronous=asynchronous, result=f"APIResponse[{result}]")
    lines.append(f'        """{doc} (`{method.operation.operation_id}`): the raw response."""')
    call = ", ".join(method.call_lines)
    lines.append(f"        call = Call({call})")
    lines.append(f"        request = build_request(self._http, call, {_OPTIONS_ARGS})")
    awaiting = "await " if asynchronous else ""
    lines.append(f"        response = {awaiting}self._http.send(request, stream={method.stream})")
    statuses = ", ".join(str(s) for s in method.statuses)
    if method.not_modified:
        lines.append("        if response.status_code == 304:")
        lines.append('            return APIResponse(response, lambda r: NotModified(r.headers.get("etag")))')
    lines.append(f"        expect_status(response, {statuses})")
    parse = method.parse
    if method.page_of is not None:
        page = f"Page[{method.page_of}]"
        if asynchronous:
            lines.append(f"        async def fetch(next_cursor: str) -> Async{page}:")
            lines.append(
                f"            return await self._resource.{method.name}({_forward(method, cursor='next_cursor')})"
            )
        else:
            lines.append(f"        def fetch(next_cursor: str) -> {page}:")
            lines.append(f"            return self._resource.{method.name}({_forward(method, cursor='next_cursor')})")
    if asynchronous:
        parse = _sync_to_async(parse)
    lines.append(f"        return APIResponse(response, {parse})")
    return lines


def _plain_method(method: _Method, *, asynchronous: bool) -> list[str]:
    lines: list[str] = []
    result = method.result
    if asynchronous:
        result = _sync_to_async(result)
    doc = method.operation.summary.replace('"""', "'''")
    awaiting = "await " if asynchronous else ""
    body = f"        return ({awaiting}self.with_raw_response.{method.name}({_forward(method)})).parse()"
    if method.not_modified:
        etag_free = _signature(method, asynchronous=asynchronous, result=result)
        overload_none = [
            line.replace("if_none_match: str | None = None", "if_none_match: None = None") for line in etag_free
        ]
        overload_str = _signature(method, asynchronous=asynchronous, result=f"{result} | NotModified")
        overload_str = [line.replace("if_none_match: str | None = None", "if_none_match: str") for line in overload_str]
        lines += ["    @overload", *overload_none, "        ...", ""]
        lines += ["    @overload", *overload_str, "        ...", ""]
        lines += _signature(method, asynchronous=asynchronous, result=f"{result} | NotModified")
    else:
        lines += _signature(method, asynchronous=asynchronous, result=result)
    lines.append(f'        """{doc} (`{method.operation.operation_id}`)."""')
    lines.append(body)
    return lines


def _classes(tag: str, methods: list[_Method], *, asynchronous: bool) -> list[str]:
    name = ("Async" if asynchronous else "") + _class_name(tag)
    http = "httpx.AsyncClient" if asynchronous else "httpx.Client"
    lines = [
        "",
        "",
        f"class {name}WithRawResponse:",
        f'    """The `{tag}` operations, each returning its raw response (`APIResponse`)."""',
        "",
        f"    def __init__(self, http: {http}, resource: {name}) -> None:",
        "        self._http = http",
        "        self._resource = resource",
    ]
    for method in methods:
        lines += ["", *_raw_method(method, asynchronous=asynchronous)]
    lines += [
        "",
        "",
        f"class {name}:",
        f'    """The `{tag}` operations of the Lexica API."""',
        "",
        f"    def __init__(self, http: {http}) -> None:",
        f"        self.with_raw_response = {name}WithRawResponse(http, self)",
    ]
    for method in methods:
        lines += ["", *_plain_method(method, asynchronous=asynchronous)]
    return lines


def render(document: Mapping[str, Any], operations: Iterable[Operation], header: str) -> str:
    planner = _Planner(document)
    by_tag: dict[str, list[_Method]] = {}
    for operation in operations:
        by_tag.setdefault(operation.tag, []).append(planner.plan(operation))
    body: list[str] = []
    for asynchronous in (False, True):
        for tag, methods in by_tag.items():
            body += _classes(tag, methods, asynchronous=asynchronous)
    text = "\n".join(body)
    decoders = [name for name in _DECODER_NAMES if re.search(rf"\b{name}\b", text)]
    runtime = [name for name in _RUNTIME_NAMES if re.search(rf"\b{name}\b", text)]
    lines = [
        header,
        '"""The resources of the Lexica API, one class per tag, generated from `openapi/lexica.yaml`."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from typing import Any, overload",
        "from uuid import UUID",
        "",
        "import httpx",
        "",
        "from lexica_client._api import models as _m",
        f"from lexica_client._decoders import {', '.join(sorted(decoders))}",
        f"from lexica_client._runtime import {', '.join(sorted(runtime))}",
        *body,
    ]
    operation_ids = {m.operation.operation_id: f"{tag}.{m.name}" for tag, ms in by_tag.items() for m in ms}
    lines += ["", "", "# Where each operation of the spec is: `client.<tag>.<method>`.", "OPERATIONS = {"]
    lines += [f'    "{op}": "{where}",' for op, where in operation_ids.items()]
    lines += ["}", "TAGS = (" + "".join(f'"{tag}", ' for tag in by_tag) + ")", ""]
    return "\n".join(lines)
