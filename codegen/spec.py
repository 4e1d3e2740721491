"""Load the OpenAPI document, validate it and walk its operations with `$ref`s resolved."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SPEC_URI = "urn:lexica:openapi"


class _StrictLoader(yaml.SafeLoader):
    """YAML's loaders keep the last of two equal keys silently; in a spec that hides a mistake, so it is an error."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_yaml(path: Path) -> Any:
    """YAML with duplicate keys refused."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def load_document(path: Path) -> dict[str, Any]:
    """Parse and validate an OpenAPI 3.1 document; raise with the validator's message if it is invalid."""
    document: dict[str, Any] = load_yaml(path)
    validate(document)
    return document


def bundled_json(document: Mapping[str, Any]) -> str:
    """The document as the server serves it: deterministic JSON, keys in the author's order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


class Resolver:
    """Follows `$ref`s inside one document through a `referencing` registry."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._resolver = registry.resolver(base_uri=SPEC_URI)

    def deref(self, node: Any) -> Any:
        """Return `node` with any chain of top-level `$ref`s followed."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise ValueError(f"circular $ref: {ref}")
            seen.add(ref)
            node = self._resolver.lookup(ref).contents
        return node

    @staticmethod
    def ref_name(node: Any) -> str | None:
        """The component name a schema `$ref` points at, or None for an inline schema."""
        if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            return str(node["$ref"]).rsplit("/", 1)[-1]
        return None


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    schema: Mapping[str, Any]
    schema_ref: str | None
    description: str
    allow_slash: bool = False  # `x-lexica-allow-slash: true`: the path parameter may contain a decoded `/`
    middleware: bool = False  # `x-lexica-middleware: true`: handled by middleware, not passed to the operation


@dataclass(frozen=True)
class Response:
    status: str
    content_types: tuple[str, ...]
    schema_ref: str | None
    headers: tuple[str, ...] = ()  # names of the response headers it declares


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    tag: str
    summary: str
    parameters: tuple[Parameter, ...]
    responses: tuple[Response, ...]
    request_body: Mapping[str, Any] | None = field(default=None)
    security: tuple[str, ...] = ()  # names of the security schemes that may authenticate; () = public
    role: str | None = None  # `x-lexica-role`: the least role the operation requires
    anonymous_allowed: bool = False  # an empty requirement (`- {}`) among `security`: credentials are optional
    sdk_method: str | None = None  # `x-lexica-sdk-method`: the method's name on the SDK's resource for its tag
    # `x-lexica-replay`: a 200 answer depends only on the request line and the state named (e.g. `dictionary`), so
    # the server may replay it until that state changes (lexica.platform.replay)
    replay: str | None = None
    # `x-lexica-rate-limit: exempt`: the operation spends no quota and its responses carry no RateLimit headers
    rate_limited: bool = True
    # `deprecated: true`: the headers its responses carry, `Deprecation` (RFC 9745) from `x-lexica-deprecated-since`
    # and `Sunset` (RFC 8594) from `x-lexica-sunset`, as (name, value) pairs
    deprecation_headers: tuple[tuple[str, str], ...] = ()

    @property
    def consumes(self) -> tuple[str, ...]:
        return tuple(self.request_body.get("content", {})) if self.request_body else ()

    @property
    def success_responses(self) -> tuple[Response, ...]:
        return tuple(r for r in self.responses if r.status.startswith(("2", "3")))

    @property
    def produces(self) -> tuple[str, ...]:
        """Media types of the operation's successful responses, in declaration order."""
        types: list[str] = []
        for response in self.success_responses:
            types.extend(t for t in response.content_types if t not in types)
        return tuple(types)


def operations(document: Mapping[str, Any]) -> Iterator[Operation]:
    """Every operation of the document, in path then method order as written."""
    resolver = Resolver(document)
    for path, path_item in document.get("paths", {}).items():
        shared = [resolver.deref(p) for p in path_item.get("parameters", [])]
        for method in HTTP_METHODS:
            raw = path_item.get(method)
            if raw is None:
                continue
            own = [resolver.deref(p) for p in raw.get("parameters", [])]
            merged = {(p["name"], p["in"]): p for p in [*shared, *own]}
            params = tuple(
                Parameter(
                    name=p["name"],
                    location=p["in"],
                    required=bool(p.get("required", p["in"] == "path")),
                    schema=resolver.deref(p.get("schema", {})),
                    schema_ref=Resolver.ref_name(p.get("schema")),
                    description=str(p.get("description", "")).strip(),
                    allow_slash=p.get("x-lexica-allow-slash") is True,
                    middleware=p.get("x-lexica-middleware") is True,
                )
                for p in merged.values()
            )
            responses = []
            for status, response in raw.get("responses", {}).items():
                resolved = resolver.deref(response)
                content = resolved.get("content", {})
                first: Mapping[str, Any] = next(iter(content.values()), {})
                responses.append(
                    Response(
                        status=str(status),
                        content_types=tuple(content),
                        schema_ref=Resolver.ref_name(first.get("schema")),
                        headers=tuple(resolved.get("headers", {})),
                    )
                )
            tags = raw.get("tags") or ["default"]
            requirements = raw.get("security", document.get("security", []))
            schemes = tuple(dict.fromkeys(name for requirement in requirements for name in requirement))
            yield Operation(
                operation_id=raw["operationId"],
                method=method,
                path=path,
                tag=tags[0],
                summary=str(raw.get("summary", "")).strip(),
                parameters=params,
                responses=tuple(responses),
                request_body=resolver.deref(raw["requestBody"]) if "requestBody" in raw else None,
                security=schemes,
                role=raw.get("x-lexica-role"),
                sdk_method=raw.get("x-lexica-sdk-method"),
                replay=raw.get("x-lexica-replay"),
                rate_limited=_rate_limited(raw),
                deprecation_headers=deprecation_headers(raw, responses),
                anonymous_allowed=bool(schemes) and any(not requirement for requirement in requirements),
            )


def _rate_limited(raw: Mapping[str, Any]) -> bool:
    value: object = raw.get("x-lexica-rate-limit", "limited")
    if value not in ("limited", "exempt"):
        raise ValueError(f"{raw.get('operationId')}: x-lexica-rate-limit is 'exempt' or absent, not {value!r}")
    return bool(value == "limited")


def deprecation_headers(raw: Mapping[str, Any], responses: Sequence[Response]) -> tuple[tuple[str, str], ...]:
    """The `Deprecation` and `Sunset` header values of a deprecated operation (none for another one).

    `x-lexica-deprecated-since` (a date) is required with `deprecated: true`: RFC 9745's `Deprecation` is the
    moment it took effect (`@` and seconds since the epoch); `x-lexica-sunset` (a later date, optional) is when
    the operation goes away, as an HTTP date (RFC 8594). Every success response must declare the headers it
    will carry, so that the contract tells clients too.
    """
    name = raw.get("operationId")
    since, sunset = raw.get("x-lexica-deprecated-since"), raw.get("x-lexica-sunset")
    if raw.get("deprecated") is not True:
        if since is not None or sunset is not None:
            raise ValueError(f"{name}: x-lexica-deprecated-since and x-lexica-sunset need `deprecated: true`")
        return ()
    since_day = _day(since)
    if since_day is None:
        raise ValueError(f'{name}: a deprecated operation needs `x-lexica-deprecated-since: "YYYY-MM-DD"`')
    headers = [("Deprecation", f"@{_midnight_utc(since_day)}")]
    if sunset is not None:
        sunset_day = _day(sunset)
        if sunset_day is None or sunset_day <= since_day:
            raise ValueError(f'{name}: x-lexica-sunset must be a date ("YYYY-MM-DD") after x-lexica-deprecated-since')
        headers.append(("Sunset", formatdate(_midnight_utc(sunset_day), usegmt=True)))
    for response in responses:
        if response.status.startswith(("2", "3")):
            missing = {header for header, _ in headers} - set(response.headers)
            if missing:
                raise ValueError(f"{name}: its {response.status} response must declare {sorted(missing)}")
    return tuple(headers)


def _day(value: object) -> date | None:
    """A date written as a quoted string (the bundled JSON has no date type) or, unquoted, as YAML reads it."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _midnight_utc(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
