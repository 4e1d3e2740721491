"""Explicit `null`s that the spec does not allow in a JSON request body.

The generated models type an optional property as `X | None = None` whether or not its schema admits null
(datamodel-code-generator has no "may be absent, never null"), so `{"source": "dictionary", "list_id": null}` would
pass as if `list_id` were absent, and a request the contract refuses would be accepted (Schemathesis' negative
testing found that one). After the model has accepted a body, this walks it beside the operation's schema in the
bundled spec and names every null the schema does not admit. Merge patches are not checked: there, null means
"remove this member", and their implementations say which members may be removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from lexica.platform.docs import bundled_spec
from lexica.platform.json_refs import follow
from lexica.platform.problems import field_error

Location = tuple[str | int, ...]


@cache
def _spec() -> Mapping[str, Any]:
    spec: Mapping[str, Any] = json.loads(bundled_spec())
    return spec


@cache
def _body_schemas() -> Mapping[str, Mapping[str, Any]]:
    """operationId -> the schema of its `application/json` request body."""
    found = {}
    for item in _spec().get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, Mapping) or "operationId" not in operation:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found[operation["operationId"]] = content["application/json"].get("schema", {})
    return found


def _resolve(schema: Any) -> Mapping[str, Any]:
    resolved, _ = follow(_spec(), schema)
    return resolved if isinstance(resolved, Mapping) else {}


def _admits_null(schema: Mapping[str, Any]) -> bool:
    schema = _resolve(schema)
    declared = schema.get("type")
    if declared is None and not any(key in schema for key in ("anyOf", "oneOf", "allOf", "const", "enum")):
        return True  # any value, null included
    if declared == "null" or (isinstance(declared, list) and "null" in declared) or schema.get("nullable") is True:
        return True
    if None in (schema.get("enum") or ()) or ("const" in schema and schema["const"] is None):
        return True
    return any(_admits_null(branch) for key in ("anyOf", "oneOf") for branch in schema.get(key) or ())


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The properties a schema declares, its `allOf` parts' included."""
    schema = _resolve(schema)
    found = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or ():
        found.update(_properties(part))
    return found


def _nulls(value: Any, schema: Mapping[str, Any], at: Location) -> Iterator[Location]:
    if isinstance(value, dict):
        properties = _properties(schema)
        for name, member in value.items():
            if name not in properties:
                continue
            if member is None:
                if not _admits_null(properties[name]):
                    yield (*at, name)
            else:
                yield from _nulls(member, properties[name], (*at, name))
    elif isinstance(value, list):
        items = _resolve(schema).get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                if item is None and not _admits_null(items):
                    yield (*at, index)
                elif item is not None:
                    yield from _nulls(item, items, (*at, index))


def refused_nulls(operation_id: str, raw: bytes) -> list[dict[str, object]]:
    """A validation error (`field_error`) for each null in the JSON body that the operation's schema refuses."""
    schema = _body_schemas().get(operation_id)
    if schema is None:
        return []
    return [
        field_error(["body", *where], "May not be null: leave the member out instead.", "null_not_allowed")
        for where in _nulls(json.loads(raw), schema, ())
    ]
