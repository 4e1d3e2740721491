"""The AsyncAPI contract (asyncapi/lexica.yaml) as validators of the messages the server sends.

    validate_ws_message({"type": "pong", "id": "7"})  # -> "pong"; raises ContractViolation on any mismatch
    validate_sse_event("job.progress", data)  # one event of /api/v1/jobs/{job_id}/events

Payloads are checked against the message's JSON Schema with `jsonschema` (draft 7, the dialect AsyncAPI schemas
extend), formats included. Which messages the server sends on a channel comes from the document's operations:
the messages of its `send` operations and the replies of its `receive` operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SPEC = Path(__file__).resolve().parent.parent / "asyncapi" / "lexica.yaml"
SPEC_URI = "urn:lexica:asyncapi"
WS_CHANNEL = "ws"
SSE_CHANNEL = "jobEvents"


class ContractViolationError(AssertionError):
    """A message does not match the AsyncAPI contract."""


@dataclass(frozen=True)
class Message:
    """One message of the document: where it is, its name and examples, and a validator of its payload."""

    pointer: str  # JSON pointer of the message object, e.g. `#/components/messages/jobProgress`
    name: str
    payload_schema: str | None  # the component schema the payload references, if it references one
    examples: tuple[Mapping[str, Any], ...]
    validator: Draft7Validator

    def validate(self, payload: Any) -> None:
        """Raise `ContractViolationError` listing every way `payload` differs from the message's schema."""
        errors = sorted(self.validator.iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            found = "\n".join(f"  at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors)
            raise ContractViolationError(f"{self.name} does not match its AsyncAPI payload schema:\n{found}")


@dataclass(frozen=True)
class Contract:
    document: Mapping[str, Any]
    messages: tuple[Message, ...]  # every message of `components.messages`, in the document's order
    sent: Mapping[str, Mapping[str, Message]]  # channel -> message name -> a message the server sends on it
    received: Mapping[str, Mapping[str, Message]]  # channel -> message name -> a message the server receives


def _resolve(document: Mapping[str, Any], pointer: str) -> tuple[str, Any]:
    """(pointer, node) at the end of the chain of `$ref`s that starts at `pointer`."""
    seen: set[str] = set()
    while True:
        if pointer in seen:
            raise ValueError(f"circular $ref at {pointer}")
        seen.add(pointer)
        node: Any = document
        for token in pointer.removeprefix("#/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return pointer, node
        pointer = node["$ref"]


def _channel_of(node: Mapping[str, Any]) -> str:
    return str(node["channel"]["$ref"]).removeprefix("#/channels/")


@cache
def contract() -> Contract:
    """The parsed contract; read once per test session."""
    document: Mapping[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if "date-time" not in Draft7Validator.FORMAT_CHECKER.checkers:
        raise RuntimeError("jsonschema cannot check `date-time` here: install rfc3339-validator")
    resource: Resource[Any] = Resource.from_contents(document, default_specification=DRAFT7)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    by_pointer: dict[str, Message] = {}

    def message(pointer: str) -> Message:
        target, node = _resolve(document, pointer)
        if target not in by_pointer:
            payload_ref = node["payload"].get("$ref")
            by_pointer[target] = Message(
                pointer=target,
                name=str(node["name"]),
                payload_schema=payload_ref.rsplit("/", 1)[-1] if isinstance(payload_ref, str) else None,
                examples=tuple(example["payload"] for example in node.get("examples", ())),
                validator=Draft7Validator(
                    {"$ref": f"{SPEC_URI}{target}/payload"},
                    registry=registry,
                    format_checker=Draft7Validator.FORMAT_CHECKER,
                ),
            )
        return by_pointer[target]

    messages = tuple(message(f"#/components/messages/{key}") for key in document["components"]["messages"])
    sent: dict[str, dict[str, Message]] = {}
    received: dict[str, dict[str, Message]] = {}
    for operation in document["operations"].values():
        own = sent if operation["action"] == "send" else received
        for ref in operation["messages"]:
            found = message(ref["$ref"])
            own.setdefault(_channel_of(operation), {})[found.name] = found
        reply = operation.get("reply")
        if reply is not None:
            channel = _channel_of(reply) if "channel" in reply else _channel_of(operation)
            replying = received if operation["action"] == "send" else sent
            for ref in reply["messages"]:
                found = message(ref["$ref"])
                replying.setdefault(channel, {})[found.name] = found
    return Contract(document=document, messages=messages, sent=sent, received=received)


def validate_ws_message(payload: dict[str, Any]) -> str:
    """Check a server-to-client WebSocket message against the payload schema of the message its `type` names;
    return that name. Raise `ContractViolationError` if it is not a message the server sends, or does not match."""
    kind = payload.get("type") if isinstance(payload, Mapping) else None
    sent = contract().sent[WS_CHANNEL]
    if not isinstance(kind, str) or kind not in sent:
        raise ContractViolationError(
            f"`type` {kind!r} names no message the server sends on {WS_CHANNEL}: {sorted(sent)}"
        )
    sent[kind].validate(payload)
    return kind


def validate_sse_event(event: str, data: dict[str, Any]) -> None:
    """Check one server-sent event of a job's event stream: its `event:` name and its `data:` payload."""
    sent = contract().sent[SSE_CHANNEL]
    if event not in sent:
        raise ContractViolationError(f"event {event!r} is not a message of {SSE_CHANNEL}: {sorted(sent)}")
    sent[event].validate(data)
