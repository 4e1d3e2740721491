"""Load the AsyncAPI 3.0 document, check its structure and every `$ref`, and bundle its schemas as JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from codegen.spec import load_yaml

TEMPLATES = Path(__file__).parent / "templates"
VERSION_PREFIX = "3.0."
SCHEMAS = "#/components/schemas/"
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"  # AsyncAPI's default schema format extends draft 7
ACTIONS = ("send", "receive")
MESSAGE_FIELDS = ("name", "title", "summary", "contentType", "payload")


class AsyncApiError(ValueError):
    """The document is not a valid AsyncAPI 3.0 document of the shape the generator supports."""


def load_asyncapi(path: Path) -> dict[str, Any]:
    """Parse an AsyncAPI 3.0 document (duplicate keys refused); raise `AsyncApiError` listing every problem found."""
    document = load_yaml(path)
    problems = list(check(document))
    if problems:
        raise AsyncApiError(f"{path.name} is not valid:\n" + "\n".join(f"  - {p}" for p in problems))
    return dict(document)


def resolve_pointer(document: Any, ref: str) -> Any:
    """The node a local `$ref` (`#/a/b`) points at; `KeyError` if there is none."""
    if not ref.startswith("#"):
        raise KeyError(f"only local references are supported: {ref}")
    node = document
    for raw in ref[1:].split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise KeyError(ref)
    return node


def deref(document: Any, node: Any) -> Any:
    """`node` with any chain of `$ref`s followed."""
    seen: set[str] = set()
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen:
            raise KeyError(f"circular $ref: {ref}")
        seen.add(ref)
        node = resolve_pointer(document, ref)
    return node


def _refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """(location, target) of every `$ref` under `node`."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from _refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _refs(item, f"{where}/{index}")


def _mapping(node: Any, where: str, problems: list[str]) -> Mapping[str, Any]:
    if isinstance(node, Mapping):
        return node
    problems.append(f"{where} must be an object")
    return {}


def check(document: Any) -> Iterator[str]:
    """Every structural problem of the document, as a message naming where it is."""
    if not isinstance(document, Mapping):
        yield "the document must be an object"
        return
    version = document.get("asyncapi")
    if not (isinstance(version, str) and version.startswith(VERSION_PREFIX)):
        yield f"asyncapi must be a {VERSION_PREFIX}x version, got {version!r}"
    info = document.get("info")
    if not (isinstance(info, Mapping) and isinstance(info.get("title"), str) and isinstance(info.get("version"), str)):
        yield "info must have a title and a version"
    dangling = False
    for where, ref in _refs(document):
        try:
            resolve_pointer(document, ref)
        except KeyError:
            dangling = True
            yield f"{where}: $ref {ref} does not resolve"
    if dangling:
        return  # the checks below follow references
    problems: list[str] = []
    _check_channels(document, problems)
    _check_operations(document, problems)
    components = document.get("components")
    schemas = components.get("schemas") if isinstance(components, Mapping) else None
    if not isinstance(schemas, Mapping) or not schemas:
        problems.append("components.schemas must hold the message payload schemas")
    for where, ref in _refs(schemas or {}, "#/components/schemas"):
        if not ref.startswith(SCHEMAS):
            problems.append(f"{where}: a schema may only reference {SCHEMAS}*, not {ref}")
    yield from problems


def _check_channels(document: Mapping[str, Any], problems: list[str]) -> None:
    for name, raw in _mapping(document.get("channels"), "channels", problems).items():
        where = f"channels.{name}"
        channel = _mapping(deref(document, raw), where, problems)
        if not isinstance(channel.get("address"), str | None):
            problems.append(f"{where}.address must be a string or null")
        messages = _mapping(channel.get("messages"), f"{where}.messages", problems)
        if not messages:
            problems.append(f"{where} has no messages")
        for key, message_raw in messages.items():
            message = _mapping(deref(document, message_raw), f"{where}.messages.{key}", problems)
            _check_message(document, message, f"{where}.messages.{key}", "ws" in channel.get("bindings", {}), problems)


def _check_message(
    document: Mapping[str, Any], message: Mapping[str, Any], where: str, websocket: bool, problems: list[str]
) -> None:
    problems.extend(f"{where} has no {field}" for field in MESSAGE_FIELDS if not message.get(field))
    examples = message.get("examples")
    if not (isinstance(examples, list) and examples and all("payload" in e for e in examples)):
        problems.append(f"{where} needs at least one example with a payload")
    if websocket:
        # A WebSocket message names itself: its payload requires a `type` whose const is the message name.
        payload = deref(document, message.get("payload", {}))
        type_schema = deref(document, payload.get("properties", {}).get("type", {}))
        if "type" not in payload.get("required", ()) or type_schema.get("const") != message.get("name"):
            problems.append(f"{where}: the payload must require `type` with const {message.get('name')!r}")


def _check_operations(document: Mapping[str, Any], problems: list[str]) -> None:
    for name, raw in _mapping(document.get("operations", {}), "operations", problems).items():
        where = f"operations.{name}"
        operation = _mapping(deref(document, raw), where, problems)
        if operation.get("action") not in ACTIONS:
            problems.append(f"{where}.action must be one of {ACTIONS}")
        channel_ref = _channel_ref(operation, where, problems)
        _check_message_refs(operation.get("messages", []), channel_ref, where, problems)
        reply = operation.get("reply")
        if isinstance(reply, Mapping):
            reply_channel = _channel_ref(reply, f"{where}.reply", problems) if "channel" in reply else channel_ref
            _check_message_refs(reply.get("messages", []), reply_channel, f"{where}.reply", problems)


def _channel_ref(node: Mapping[str, Any], where: str, problems: list[str]) -> str | None:
    ref = node.get("channel", {}).get("$ref") if isinstance(node.get("channel"), Mapping) else None
    if not (isinstance(ref, str) and ref.startswith("#/channels/")):
        problems.append(f"{where}.channel must be a $ref to #/channels/*")
        return None
    return ref


def _check_message_refs(messages: Any, channel_ref: str | None, where: str, problems: list[str]) -> None:
    if not isinstance(messages, list) or not messages:
        problems.append(f"{where}.messages must list at least one message")
        return
    for message in messages:
        ref = message.get("$ref") if isinstance(message, Mapping) else None
        if channel_ref is not None and not (isinstance(ref, str) and ref.startswith(f"{channel_ref}/messages/")):
            problems.append(f"{where}.messages: {ref or message!r} is not a message of {channel_ref}")


@dataclass(frozen=True)
class Union:
    """A schema that is a `oneOf` of named schemas told apart by a `discriminator` property."""

    name: str
    members: tuple[str, ...]
    discriminator: str


def discriminated_unions(document: Mapping[str, Any]) -> list[Union]:
    """Every discriminated union among `components.schemas`, in the document's order."""
    unions = []
    for name, schema in document["components"]["schemas"].items():
        discriminator = schema.get("discriminator")
        if isinstance(discriminator, Mapping):  # OpenAPI's form; AsyncAPI 3.0 names the property
            discriminator = discriminator.get("propertyName")
        if not isinstance(discriminator, str) or "oneOf" not in schema:
            continue
        refs = [member.get("$ref", "") for member in schema["oneOf"]]
        if not all(ref.startswith(SCHEMAS) for ref in refs):
            raise AsyncApiError(f"{name}: every member of a discriminated oneOf must be a $ref to {SCHEMAS}*")
        unions.append(Union(name, tuple(ref.removeprefix(SCHEMAS) for ref in refs), discriminator))
    return unions


def render_unions(document: Mapping[str, Any]) -> str:
    """Python source, appended to the generated models, naming each discriminated union as an annotated type."""
    template = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - renders Python source, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    ).get_template("events_unions.py.j2")
    return template.render(unions=discriminated_unions(document))


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {
            key: (f"#/definitions/{value.removeprefix(SCHEMAS)}" if key == "$ref" else _rewrite_refs(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def events_json_schema(document: Mapping[str, Any]) -> str:
    """`components.schemas` as one JSON Schema document (draft 7, `definitions`), deterministic JSON."""
    bundle = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": str(document["info"]["title"]),
        "definitions": _rewrite_refs(document["components"]["schemas"]),
    }
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
