"""The AsyncAPI document agrees with itself and with the generated models: every example matches its payload
schema, the models parse every example, and what the models serialise matches the schema again."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, get_args

import pytest
from asyncapi_contract import (
    SPEC,
    SSE_CHANNEL,
    WS_CHANNEL,
    ContractViolationError,
    Message,
    contract,
    validate_sse_event,
    validate_ws_message,
)
from pydantic import BaseModel, TypeAdapter

from codegen.asyncapi import check, load_asyncapi
from lexica._generated import events

EXAMPLES = [
    pytest.param(message, example, id=f"{message.name}-{index}")
    for message in contract().messages
    for index, example in enumerate(message.examples)
]


def _model(message: Message) -> type[BaseModel]:
    assert message.payload_schema is not None, f"{message.name}: the payload must reference a component schema"
    model = getattr(events, message.payload_schema)
    assert isinstance(model, type)
    assert issubclass(model, BaseModel)
    return model


def test_every_message_has_an_example() -> None:
    assert all(message.examples for message in contract().messages)


@pytest.mark.parametrize(("message", "example"), EXAMPLES)
def test_example_matches_its_payload_schema(message: Message, example: dict[str, Any]) -> None:
    message.validate(example)


@pytest.mark.parametrize(("message", "example"), EXAMPLES)
def test_generated_model_parses_the_example_and_serialises_a_valid_payload(
    message: Message, example: dict[str, Any]
) -> None:
    parsed = _model(message).model_validate(example)
    message.validate(parsed.model_dump(mode="json"))


def test_websocket_unions_parse_every_websocket_example_into_its_model() -> None:
    client: TypeAdapter[Any] = TypeAdapter(events.ClientMessageUnion)
    server: TypeAdapter[Any] = TypeAdapter(events.ServerMessageUnion)
    for adapter, messages in ((client, contract().received[WS_CHANNEL]), (server, contract().sent[WS_CHANNEL])):
        for message in messages.values():
            for example in message.examples:
                assert isinstance(adapter.validate_python(example), _model(message))


def test_the_unions_hold_exactly_the_websocket_messages_of_each_side() -> None:
    for union, messages in (
        (events.ClientMessageUnion, contract().received[WS_CHANNEL]),
        (events.ServerMessageUnion, contract().sent[WS_CHANNEL]),
    ):
        members = get_args(get_args(union)[0])  # Annotated[A | B | ..., Field(...)]
        assert set(members) == {_model(message) for message in messages.values()}


def test_validate_ws_message_returns_the_message_name() -> None:
    for name, message in contract().sent[WS_CHANNEL].items():
        for example in message.examples:
            assert validate_ws_message(dict(example)) == name


def test_validate_ws_message_rejects_a_message_the_client_sends() -> None:
    with pytest.raises(ContractViolationError, match="names no message the server sends"):
        validate_ws_message({"type": "subscribe", "topics": ["entries"]})


def test_validate_ws_message_rejects_an_undeclared_property() -> None:
    with pytest.raises(ContractViolationError, match="Additional properties"):
        validate_ws_message({"type": "pong", "id": "1", "extra": True})


def test_validate_ws_message_checks_date_time_formats() -> None:
    event = dict(contract().sent[WS_CHANNEL]["entry.changed"].examples[0])
    with pytest.raises(ContractViolationError, match="occurred_at"):
        validate_ws_message({**event, "occurred_at": "yesterday"})


def test_validate_sse_event_accepts_every_example_of_the_job_stream() -> None:
    for name, message in contract().sent[SSE_CHANNEL].items():
        for example in message.examples:
            validate_sse_event(name, dict(example))


def test_validate_sse_event_rejects_a_websocket_only_message() -> None:
    with pytest.raises(ContractViolationError, match="not a message of"):
        validate_sse_event("subscribed", {"type": "subscribed", "topics": ["entries"]})


def test_validate_sse_event_rejects_a_payload_that_does_not_match() -> None:
    with pytest.raises(ContractViolationError, match="reconnect_after_ms"):
        validate_sse_event("stream.reconnect", {"reconnect_after_ms": -1})


def test_the_generator_accepts_the_document() -> None:
    load_asyncapi(SPEC)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split("/")

    def mutate(document: dict[str, Any]) -> None:
        node: Any = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        pytest.param(_set("asyncapi", "2.6.0"), "asyncapi must be a 3.0.x version", id="version"),
        pytest.param(
            _set("components/schemas/JobProgress/properties/kind", {"$ref": "#/components/schemas/Nope"}),
            "$ref #/components/schemas/Nope does not resolve",
            id="dangling-ref",
        ),
        pytest.param(
            _set("operations/sendTopicEvents/messages/0", {"$ref": "#/channels/jobEvents/messages/jobStages"}),
            "is not a message of #/channels/ws",
            id="message-of-another-channel",
        ),
        pytest.param(_set("operations/receivePing/action", "publish"), "action must be one of", id="action"),
        pytest.param(
            _set("components/schemas/Pong/properties/type", {"const": "ping"}),
            "the payload must require `type` with const 'pong'",
            id="websocket-type-const",
        ),
        pytest.param(_set("components/messages/pong/examples", []), "at least one example", id="no-example"),
    ],
)
def test_the_generator_rejects_a_broken_document(mutate: Callable[[dict[str, Any]], None], problem: str) -> None:
    document = copy.deepcopy(dict(contract().document))
    mutate(document)
    assert any(problem in found for found in check(document)), list(check(document))
