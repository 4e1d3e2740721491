"""Breaking changes between two versions of the specs, as a consumer of the older one would meet them.

No maintained checker runs here for these specs: oasdiff is a Go binary outside the package registries, npm's
`openapi-diff` refuses OpenAPI 3.1, and `@asyncapi/diff` only reads AsyncAPI 2. So this is a focused one: it
knows the rules below and nothing more, and `contract-tests/test_spec_diff.py` holds it to a catalogue of
breaking and non-breaking edits.

A schema is compared in the direction data flows. What a client sends (parameters, request bodies, messages the
server receives) may only get looser: a new required property or parameter, a removed enum value, a narrower type
or a tighter limit breaks a client that was right before. What a client receives (responses, headers, messages the
server sends) may only get tighter: a removed or no longer required property, a new enum value (generated SDKs
parse enums strictly), a wider type break a client that relied on the old promise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from codegen.asyncapi import resolve_pointer

Direction = Literal["request", "response"]
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Limits that a request schema may only loosen: (keyword, True when a larger value is looser).
_LIMITS = (
    ("maxLength", True),
    ("maximum", True),
    ("exclusiveMaximum", True),
    ("maxItems", True),
    ("maxProperties", True),
    ("minLength", False),
    ("minimum", False),
    ("exclusiveMinimum", False),
    ("minItems", False),
    ("minProperties", False),
)


@dataclass(frozen=True, order=True)
class Breaking:
    subject: str  # what the CHANGELOG must name: an operationId, a component schema, a channel or a message
    where: str  # the operation (or channel) and the place inside it
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what} [{self.subject}]"


class _Document:
    """A spec with its local `$ref`s followed on demand (cycles stop at a schema already being compared)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec

    def resolve(self, node: Any) -> tuple[Any, str | None]:
        """The node a `$ref` points to, with the name of the component it lands on (None for an inline node)."""
        name = None
        seen = 0
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and seen < 32:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local references are followed, not {ref}")
            try:
                target: Any = resolve_pointer(self.spec, ref)
            except KeyError:  # a reference into something the other version no longer has
                target = None
            name = ref.rsplit("/", 1)[-1]
            node, seen = target, seen + 1
        return node, name

    def flattened(self, schema: Mapping[str, Any], depth: int = 0) -> Mapping[str, Any]:
        """`schema` with its `allOf` parts merged in (their properties, required names and closedness), so that a
        schema rewritten as an `allOf` of the same parts compares equal to what it was; one without `allOf` as it is.
        (Only the object keywords are merged: an `allOf` of types or enums is not what these specs use it for.)"""
        parts = schema.get("allOf")
        if not isinstance(parts, list) or depth > 8:
            return schema
        merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        properties: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[str] = list(merged.get("required") or [])
        for part in parts:
            resolved, _ = self.resolve(part)
            if not isinstance(resolved, Mapping):
                continue
            resolved = self.flattened(resolved, depth + 1)
            properties.update(resolved.get("properties") or {})
            required += [name for name in resolved.get("required") or [] if name not in required]
            if resolved.get("additionalProperties") is False:
                merged["additionalProperties"] = False
            for keyword in ("type", "format", "enum"):
                if keyword in resolved and keyword not in merged:
                    merged[keyword] = resolved[keyword]
        merged["properties"], merged["required"] = properties, required
        return merged


def _types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    found = {declared} if isinstance(declared, str) else set(declared)
    if schema.get("nullable") is True:
        found.add("null")
    return frozenset(found)


class _SchemaComparer:
    def __init__(self, old: _Document, new: _Document) -> None:
        self.old = old
        self.new = new

    def compare(
        self, old_node: Any, new_node: Any, direction: Direction, where: str, subject: str
    ) -> Iterator[Breaking]:
        yield from self._compare(old_node, new_node, direction, where, subject, set())

    def _compare(
        self, old_node: Any, new_node: Any, direction: Direction, where: str, subject: str, active: set[tuple[int, int]]
    ) -> Iterator[Breaking]:
        old_schema, old_name = self.old.resolve(old_node)
        new_schema, new_name = self.new.resolve(new_node)
        if not isinstance(old_schema, Mapping) or not isinstance(new_schema, Mapping):
            return
        old_schema, new_schema = self.old.flattened(old_schema), self.new.flattened(new_schema)
        pair = (id(old_schema), id(new_schema))
        if pair in active:
            return
        active = active | {pair}
        subject = new_name or old_name or subject

        def broke(what: str, at: str = "") -> Breaking:
            return Breaking(subject, where + at, what)

        old_types, new_types = _types(old_schema), _types(new_schema)
        if old_types is not None and new_types is not None and old_types != new_types:
            lost, gained = old_types - new_types, new_types - old_types
            if direction == "request" and lost:
                yield broke(f"type {sorted(old_types)} became {sorted(new_types)}: {sorted(lost)} no longer accepted")
            if direction == "response" and gained:
                yield broke(f"type {sorted(old_types)} became {sorted(new_types)}: {sorted(gained)} may now be sent")
        elif old_types is None and new_types is not None and direction == "request":
            yield broke(f"any type was accepted, now only {sorted(new_types)}")
        if old_schema.get("format") != new_schema.get("format") and new_schema.get("format") is not None:
            yield broke(f"format {old_schema.get('format')!r} became {new_schema.get('format')!r}")
        yield from self._enums(old_schema, new_schema, direction, broke)
        if direction == "request":
            yield from self._limits(old_schema, new_schema, broke)
        yield from self._properties(old_schema, new_schema, direction, where, subject, active)
        if "items" in old_schema and "items" in new_schema:
            yield from self._compare(old_schema["items"], new_schema["items"], direction, where + "[]", subject, active)
        for keyword in ("oneOf", "anyOf"):
            old_branches, new_branches = old_schema.get(keyword), new_schema.get(keyword)
            if isinstance(old_branches, list) and isinstance(new_branches, list):
                yield from self._branches(keyword, old_branches, new_branches, direction, where, subject, active)

    def _enums(
        self, old_schema: Mapping[str, Any], new_schema: Mapping[str, Any], direction: Direction, broke: Any
    ) -> Iterator[Breaking]:
        old_values = _allowed(old_schema)
        new_values = _allowed(new_schema)
        if new_values is None:
            if old_values is not None and direction == "response":
                yield broke(f"was one of {_listed(old_values)}, now any value")
            return
        if old_values is None:
            if direction == "request":
                yield broke(f"any value was accepted, now only {_listed(new_values)}")
            return
        if direction == "request" and (removed := old_values - new_values):
            yield broke(f"enum narrowed: {_listed(removed)} no longer accepted")
        if direction == "response" and (added := new_values - old_values):
            yield broke(f"enum widened: {_listed(added)} may now be sent")

    def _limits(self, old_schema: Mapping[str, Any], new_schema: Mapping[str, Any], broke: Any) -> Iterator[Breaking]:
        for keyword, larger_is_looser in _LIMITS:
            old_limit, new_limit = old_schema.get(keyword), new_schema.get(keyword)
            if not isinstance(new_limit, int | float) or isinstance(new_limit, bool):
                continue
            if old_limit is None or (new_limit < old_limit if larger_is_looser else new_limit > old_limit):
                yield broke(f"{keyword} tightened from {old_limit} to {new_limit}")
        if new_schema.get("pattern") is not None and new_schema.get("pattern") != old_schema.get("pattern"):
            yield broke(f"pattern {old_schema.get('pattern')!r} became {new_schema.get('pattern')!r}")

    def _properties(
        self,
        old_schema: Mapping[str, Any],
        new_schema: Mapping[str, Any],
        direction: Direction,
        where: str,
        subject: str,
        active: set[tuple[int, int]],
    ) -> Iterator[Breaking]:
        old_properties: Mapping[str, Any] = old_schema.get("properties") or {}
        new_properties: Mapping[str, Any] = new_schema.get("properties") or {}
        old_required = set(old_schema.get("required") or ())
        new_required = set(new_schema.get("required") or ())
        closed = new_schema.get("additionalProperties") is False or new_schema.get("unevaluatedProperties") is False
        for name, old_property in old_properties.items():
            at = f"{where}.{name}"
            if name not in new_properties:
                if direction == "response":
                    yield Breaking(subject, at, "property removed")
                elif closed:
                    yield Breaking(subject, at, "property removed, and other properties are refused")
                continue
            if direction == "response" and name in old_required and name not in new_required:
                yield Breaking(subject, at, "no longer required: it may be missing")
            yield from self._compare(old_property, new_properties[name], direction, at, subject, active)
        if direction == "request":
            for name in sorted(new_required - old_required):
                yield Breaking(subject, f"{where}.{name}", "new required property")

    def _branches(
        self,
        keyword: str,
        old_branches: list[Any],
        new_branches: list[Any],
        direction: Direction,
        where: str,
        subject: str,
        active: set[tuple[int, int]],
    ) -> Iterator[Breaking]:
        old_named = {self.old.resolve(branch)[1] or f"#{index}": branch for index, branch in enumerate(old_branches)}
        new_named = {self.new.resolve(branch)[1] or f"#{index}": branch for index, branch in enumerate(new_branches)}
        for name, branch in old_named.items():
            if name in new_named:
                yield from self._compare(
                    branch, new_named[name], direction, f"{where}({keyword} {name})", subject, active
                )
            elif direction == "request":
                yield Breaking(subject, where, f"{keyword} branch {name} removed: it is no longer accepted")
        if direction == "response":
            for name in new_named.keys() - old_named.keys():
                yield Breaking(subject, where, f"{keyword} branch {name} added: it may now be sent")


def _allowed(schema: Mapping[str, Any]) -> frozenset[Any] | None:
    if "const" in schema:
        return frozenset([_hashable(schema["const"])])
    if isinstance(schema.get("enum"), list):
        return frozenset(_hashable(value) for value in schema["enum"])
    return None


def _listed(values: frozenset[Any]) -> str:
    return ", ".join(sorted(map(str, values)))


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


def openapi_breaking_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Breaking]:
    """Every breaking change from `old` to `new` (OpenAPI 3.x documents, local references only)."""
    old_doc, new_doc = _Document(old), _Document(new)
    schemas = _SchemaComparer(old_doc, new_doc)
    found: list[Breaking] = []
    old_paths: Mapping[str, Any] = old.get("paths") or {}
    new_paths: Mapping[str, Any] = new.get("paths") or {}
    for path, old_item in old_paths.items():
        new_item = new_paths.get(path) or {}
        for method in HTTP_METHODS:
            if method not in old_item:
                continue
            old_op, new_op = old_item[method], new_item.get(method)
            operation = old_op.get("operationId") or f"{method.upper()} {path}"
            where = f"{method.upper()} {path}"
            if new_op is None:
                found.append(Breaking(operation, where, "operation removed"))
                continue
            found.extend(_operation(schemas, old_item, new_item, old_op, new_op, operation, where))
    return sorted(set(found))


def _security(spec: Mapping[str, Any], operation: Mapping[str, Any]) -> list[Any]:
    """The operation's security requirements (the document's when it has none of its own); empty: public, or a
    requirement that may be met with nothing (`{}`)."""
    requirements = operation.get("security", spec.get("security")) or []
    return [] if any(not requirement for requirement in requirements) else list(requirements)


def _parameters(
    document: _Document, item: Mapping[str, Any], operation: Mapping[str, Any]
) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for raw in [*(item.get("parameters") or ()), *(operation.get("parameters") or ())]:
        parameter, _ = document.resolve(raw)
        name = parameter["name"].lower() if parameter["in"] == "header" else parameter["name"]
        found[(parameter["in"], name)] = parameter
    return found


def _operation(
    schemas: _SchemaComparer,
    old_item: Mapping[str, Any],
    new_item: Mapping[str, Any],
    old_op: Mapping[str, Any],
    new_op: Mapping[str, Any],
    operation: str,
    where: str,
) -> Iterator[Breaking]:
    old_parameters = _parameters(schemas.old, old_item, old_op)
    new_parameters = _parameters(schemas.new, new_item, new_op)
    for key, new_parameter in new_parameters.items():
        old_parameter = old_parameters.get(key)
        label = f"{where} {key[0]} parameter {new_parameter['name']}"
        if old_parameter is None:
            if new_parameter.get("required"):
                yield Breaking(operation, label, "new required parameter")
            continue
        if new_parameter.get("required") and not old_parameter.get("required"):
            yield Breaking(operation, label, "parameter became required")
        yield from schemas.compare(
            old_parameter.get("schema"), new_parameter.get("schema"), "request", label, operation
        )
    for key, old_parameter in old_parameters.items():
        if key not in new_parameters:
            yield Breaking(operation, f"{where} {key[0]} parameter {old_parameter['name']}", "parameter removed")
    old_body, _ = schemas.old.resolve(old_op.get("requestBody"))
    new_body, _ = schemas.new.resolve(new_op.get("requestBody"))
    if isinstance(new_body, Mapping):
        if new_body.get("required") and not (isinstance(old_body, Mapping) and old_body.get("required")):
            yield Breaking(operation, f"{where} request body", "request body became required")
        if isinstance(old_body, Mapping):
            for media, old_content in (old_body.get("content") or {}).items():
                new_content = (new_body.get("content") or {}).get(media)
                if new_content is None:
                    yield Breaking(operation, f"{where} request {media}", "media type no longer accepted")
                    continue
                yield from schemas.compare(
                    old_content.get("schema"),
                    new_content.get("schema"),
                    "request",
                    f"{where} request {media}",
                    operation,
                )
    if not _security(schemas.old.spec, old_op) and _security(schemas.new.spec, new_op):
        yield Breaking(operation, where, "a public operation now needs credentials")
    old_responses: Mapping[str, Any] = old_op.get("responses") or {}
    new_responses: Mapping[str, Any] = new_op.get("responses") or {}
    for status, raw in old_responses.items():
        old_response, _ = schemas.old.resolve(raw)
        if status not in new_responses:
            if str(status)[0] in "23":
                yield Breaking(operation, f"{where} {status}", "success response removed")
            continue
        new_response, _ = schemas.new.resolve(new_responses[status])
        for header in old_response.get("headers") or {}:
            if header.lower() not in {name.lower() for name in (new_response.get("headers") or {})}:
                yield Breaking(operation, f"{where} {status} header {header}", "response header removed")
        for media, old_content in (old_response.get("content") or {}).items():
            new_content = (new_response.get("content") or {}).get(media)
            label = f"{where} {status} {media}"
            if new_content is None:
                yield Breaking(operation, label, "response media type removed")
                continue
            yield from schemas.compare(
                old_content.get("schema"), new_content.get("schema"), "response", label, operation
            )


def asyncapi_breaking_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Breaking]:
    """Every breaking change from `old` to `new` (AsyncAPI 3 documents): removed channels, operations and messages,
    and message payloads compared in the direction they travel (`send`: the server sends, `receive`: it receives)."""
    schemas = _SchemaComparer(_Document(old), _Document(new))
    found: list[Breaking] = []
    old_channels: Mapping[str, Any] = old.get("channels") or {}
    new_channels: Mapping[str, Any] = new.get("channels") or {}
    for name in old_channels:
        if name not in new_channels:
            found.append(Breaking(name, f"channel {name}", "channel removed"))
    old_operations: Mapping[str, Any] = old.get("operations") or {}
    new_operations: Mapping[str, Any] = new.get("operations") or {}
    for name, old_raw in old_operations.items():
        old_op, _ = schemas.old.resolve(old_raw)
        if name not in new_operations:
            found.append(Breaking(name, f"operation {name}", "operation removed"))
            continue
        new_op, _ = schemas.new.resolve(new_operations[name])
        if old_op.get("action") != new_op.get("action"):
            found.append(
                Breaking(name, f"operation {name}", f"action {old_op.get('action')} became {new_op.get('action')}")
            )
            continue
        direction: Direction = "response" if old_op.get("action") == "send" else "request"
        found.extend(_message_changes(schemas, name, old_op, new_op, direction))
        old_reply, _ = schemas.old.resolve(old_op.get("reply"))
        new_reply, _ = schemas.new.resolve(new_op.get("reply"))
        if isinstance(old_reply, Mapping):
            replied: Direction = "request" if direction == "response" else "response"  # a reply travels back
            found.extend(
                _message_changes(
                    schemas, f"{name} reply", old_reply, new_reply if isinstance(new_reply, Mapping) else {}, replied
                )
            )
    return sorted(set(found))


def _message_changes(
    schemas: _SchemaComparer, name: str, old_op: Mapping[str, Any], new_op: Mapping[str, Any], direction: Direction
) -> Iterator[Breaking]:
    old_messages = _messages(schemas.old, old_op)
    new_messages = _messages(schemas.new, new_op)
    for message, old_message in old_messages.items():
        where = f"operation {name} message {message}"
        if message not in new_messages:
            yield Breaking(message, where, "message removed")
            continue
        yield from schemas.compare(
            old_message.get("payload"), new_messages[message].get("payload"), direction, where, message
        )


def _messages(document: _Document, operation: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The operation's messages by component name: its own list, else every message of its channel."""
    listed = operation.get("messages")
    if not listed:
        channel, _ = document.resolve(operation.get("channel"))
        listed = list((channel.get("messages") or {}).values()) if isinstance(channel, Mapping) else []
    found: dict[str, Mapping[str, Any]] = {}
    for index, raw in enumerate(listed):
        message, name = document.resolve(raw)
        if isinstance(message, Mapping):
            found[name or f"#{index}"] = message
    return found
