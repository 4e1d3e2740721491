"""Python names and type annotations for spec names and parameter schemas."""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

from codegen.spec import Parameter

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def snake(name: str) -> str:
    """`getEntry` -> `get_entry`, `If-None-Match` -> `if_none_match`."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", name)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().strip("_")
    return f"{name}_" if keyword.iskeyword(name) else name


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9a-zA-Z]+", name) if part)


def schema_type(schema: Mapping[str, Any], ref: str | None) -> str:
    """The Python annotation of a parameter schema, without optionality."""
    if ref is not None:
        return f"models.{ref}"
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return f"list[{schema_type(items, None)}]"
    if kind == "string" and schema.get("format") == "uuid":
        return "UUID"
    if isinstance(kind, str) and kind in _SCALARS:
        return _SCALARS[kind]
    raise ValueError(f"unsupported parameter schema: {dict(schema)!r}")


def constraint_kwargs(schema: Mapping[str, Any]) -> list[str]:
    """FastAPI `Path`/`Query`/`Header` keyword arguments that enforce the schema's constraints."""
    mapping = {
        "minLength": "min_length",
        "maxLength": "max_length",
        "minimum": "ge",
        "maximum": "le",
        "exclusiveMinimum": "gt",
        "exclusiveMaximum": "lt",
        "pattern": "pattern",
    }
    return [f"{target}={schema[source]!r}" for source, target in mapping.items() if source in schema]


def default_literal(param: Parameter) -> str | None:
    """The Python default for an optional parameter, or None when it is required."""
    if param.required:
        return None
    if "default" not in param.schema:
        return "None"
    value = param.schema["default"]
    if param.schema_ref is not None:
        return f"models.{param.schema_ref}({value!r})"
    return repr(value)


def annotation(param: Parameter) -> str:
    base = schema_type(param.schema, param.schema_ref)
    if not param.required and "default" not in param.schema:
        return f"{base} | None"
    return base
