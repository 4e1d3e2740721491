"""The breaking-change checker (`codegen.spec_diff`) on a catalogue of edits to the real specs: each breaking edit
is reported and named, each compatible one is not."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.spec_diff import asyncapi_breaking_changes, openapi_breaking_changes

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = yaml.safe_load((ROOT / "openapi" / "lexica.yaml").read_text())
ASYNCAPI = yaml.safe_load((ROOT / "asyncapi" / "lexica.yaml").read_text())
Edit = Callable[[dict[str, Any]], None]


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec["paths"][path][method]
    return operation


def remove_operation(spec: dict[str, Any]) -> None:
    del spec["paths"]["/api/v1/search"]["get"]


def remove_response_property(spec: dict[str, Any]) -> None:
    del _schema(spec, "Job")["properties"]["progress"]


def response_property_optional(spec: dict[str, Any]) -> None:
    _schema(spec, "Job")["required"].remove("state")


def new_required_request_property(spec: dict[str, Any]) -> None:
    schema = _schema(spec, "WordListInput")
    schema["properties"]["colour"] = {"type": "string"}
    schema.setdefault("required", []).append("colour")


def new_required_parameter(spec: dict[str, Any]) -> None:
    _operation(spec, "/api/v1/search", "get")["parameters"].append(
        {"name": "lang", "in": "query", "required": True, "schema": {"type": "string"}}
    )


def optional_parameter_required(spec: dict[str, Any]) -> None:
    for parameter in _operation(spec, "/api/v1/words", "get")["parameters"]:
        if "$ref" in parameter and parameter["$ref"].endswith("/Limit"):
            parameter.clear()
            parameter.update({"name": "limit", "in": "query", "required": True, "schema": {"type": "integer"}})


def narrow_request_enum(spec: dict[str, Any]) -> None:
    _schema(spec, "SearchMode")["enum"].remove("fuzzy")


def widen_response_enum(spec: dict[str, Any]) -> None:
    _schema(spec, "JobState")["enum"].append("paused")


def change_type(spec: dict[str, Any]) -> None:
    _schema(spec, "Entry")["properties"]["version"] = {"type": "string"}


def tighten_request_limit(spec: dict[str, Any]) -> None:
    _schema(spec, "WordListInput")["properties"]["name"]["maxLength"] = 5


def remove_success_response(spec: dict[str, Any]) -> None:
    del _operation(spec, "/api/v1/words/{headword}", "get")["responses"]["304"]


def remove_response_header(spec: dict[str, Any]) -> None:
    del _operation(spec, "/api/v1/words/{headword}", "get")["responses"]["200"]["headers"]["ETag"]


def remove_property_of_an_allof_part(spec: dict[str, Any]) -> None:
    del _schema(spec, "Problem")["properties"]["detail"]  # every problem schema is an allOf over Problem


def public_operation_needs_credentials(spec: dict[str, Any]) -> None:
    _operation(spec, "/api/v1/search", "get")["security"] = [{"ApiKeyHeader": []}]


# Compatible edits.
def add_operation(spec: dict[str, Any]) -> None:
    spec["paths"]["/api/v1/stats"] = {"get": {"operationId": "getStats", "responses": {"200": {"description": "x"}}}}


def add_optional_parameter(spec: dict[str, Any]) -> None:
    _operation(spec, "/api/v1/search", "get")["parameters"].append(
        {"name": "lang", "in": "query", "schema": {"type": "string"}}
    )


def add_response_property(spec: dict[str, Any]) -> None:
    _schema(spec, "Job")["properties"]["note"] = {"type": "string"}


def request_property_optional(spec: dict[str, Any]) -> None:
    _schema(spec, "WordListInput")["required"].remove("name")


def loosen_request_limit(spec: dict[str, Any]) -> None:
    _schema(spec, "WordListInput")["properties"]["name"]["maxLength"] = 10_000


def add_error_response(spec: dict[str, Any]) -> None:
    _operation(spec, "/api/v1/search", "get")["responses"]["418"] = {"description": "teapot"}


def split_a_response_schema_into_allof_parts(spec: dict[str, Any]) -> None:
    job = _schema(spec, "Job")
    names = sorted(job["properties"])
    half = set(names[: len(names) // 2])
    first = {
        "type": "object",
        "properties": {name: job["properties"][name] for name in names if name in half},
        "required": [name for name in job["required"] if name in half],
    }
    spec["components"]["schemas"]["JobFirstHalf"] = first
    spec["components"]["schemas"]["Job"] = {
        "allOf": [
            {"$ref": "#/components/schemas/JobFirstHalf"},
            {
                "type": "object",
                "properties": {name: job["properties"][name] for name in names if name not in half},
                "required": [name for name in job["required"] if name not in half],
            },
        ]
    }


def edit_descriptions(spec: dict[str, Any]) -> None:
    _operation(spec, "/api/v1/search", "get")["description"] = "Said differently."
    _schema(spec, "Job")["description"] = "Said differently."


BREAKING: list[tuple[Edit, str, str]] = [
    (remove_operation, "searchWords", "operation removed"),
    (remove_response_property, "Job", "progress: property removed"),
    (response_property_optional, "Job", "state: no longer required"),
    (new_required_request_property, "WordListInput", "colour: new required property"),
    (new_required_parameter, "searchWords", "new required parameter"),
    (optional_parameter_required, "listWords", "parameter became required"),
    (narrow_request_enum, "SearchMode", "enum narrowed: fuzzy no longer accepted"),
    (widen_response_enum, "JobState", "enum widened: paused may now be sent"),
    (change_type, "Entry", "type ['integer'] became ['string']"),
    (tighten_request_limit, "WordListInput", "maxLength tightened"),
    (remove_success_response, "getEntry", "304: success response removed"),
    (remove_response_header, "getEntry", "header ETag: response header removed"),
    (public_operation_needs_credentials, "searchWords", "a public operation now needs credentials"),
    (remove_property_of_an_allof_part, "ValidationProblem", "detail: property removed"),
]
COMPATIBLE: list[Edit] = [
    add_operation,
    add_optional_parameter,
    add_response_property,
    request_property_optional,
    loosen_request_limit,
    add_error_response,
    split_a_response_schema_into_allof_parts,
    edit_descriptions,
]


def _edited(spec: dict[str, Any], edit: Edit) -> dict[str, Any]:
    changed = copy.deepcopy(spec)
    edit(changed)
    assert changed != spec, f"{edit.__name__} changed nothing: the catalogue no longer fits the spec"
    return changed


def test_the_specs_are_compatible_with_themselves() -> None:
    assert openapi_breaking_changes(OPENAPI, copy.deepcopy(OPENAPI)) == []
    assert asyncapi_breaking_changes(ASYNCAPI, copy.deepcopy(ASYNCAPI)) == []


@pytest.mark.parametrize(("edit", "subject", "said"), BREAKING, ids=[edit.__name__ for edit, _, _ in BREAKING])
def test_a_breaking_openapi_edit_is_reported(edit: Edit, subject: str, said: str) -> None:
    found = openapi_breaking_changes(OPENAPI, _edited(OPENAPI, edit))
    assert found, f"{edit.__name__} was not reported"
    assert any(change.subject == subject and said in str(change) for change in found), [str(c) for c in found]


@pytest.mark.parametrize("edit", COMPATIBLE, ids=[edit.__name__ for edit in COMPATIBLE])
def test_a_compatible_openapi_edit_is_not_reported(edit: Edit) -> None:
    assert [str(change) for change in openapi_breaking_changes(OPENAPI, _edited(OPENAPI, edit))] == []


def _message(spec: dict[str, Any], name: str) -> dict[str, Any]:
    message: dict[str, Any] = spec["components"]["messages"][name]
    return message


def _payload(spec: dict[str, Any], message: str) -> dict[str, Any]:
    payload = _message(spec, message)["payload"]
    if "$ref" in payload:
        payload = spec["components"]["schemas"][payload["$ref"].rsplit("/", 1)[-1]]
    assert isinstance(payload, dict)
    return payload


def remove_channel(spec: dict[str, Any]) -> None:
    del spec["channels"]["jobEvents"]


def remove_sent_message_field(spec: dict[str, Any]) -> None:
    payload = _payload(spec, "subscribed")
    del payload["properties"][sorted(payload["properties"])[0]]


def new_required_received_field(spec: dict[str, Any]) -> None:
    payload = _payload(spec, "subscribe")
    payload["properties"]["token"] = {"type": "string"}
    payload.setdefault("required", []).append("token")


def remove_operation_message(spec: dict[str, Any]) -> None:
    operation = spec["operations"]["receivePing"]
    operation["messages"] = []
    spec["channels"]["ws"]["messages"].pop("ping")


def add_sent_message_field(spec: dict[str, Any]) -> None:
    _payload(spec, "subscribed")["properties"]["note"] = {"type": "string"}


ASYNC_BREAKING: list[tuple[Edit, str]] = [
    (remove_channel, "channel removed"),
    (remove_sent_message_field, "property removed"),
    (new_required_received_field, "new required property"),
    (remove_operation_message, "message removed"),
]


@pytest.mark.parametrize(("edit", "said"), ASYNC_BREAKING, ids=[edit.__name__ for edit, _ in ASYNC_BREAKING])
def test_a_breaking_asyncapi_edit_is_reported(edit: Edit, said: str) -> None:
    found = asyncapi_breaking_changes(ASYNCAPI, _edited(ASYNCAPI, edit))
    assert any(said in str(change) for change in found), [str(c) for c in found]


def test_a_compatible_asyncapi_edit_is_not_reported() -> None:
    assert asyncapi_breaking_changes(ASYNCAPI, _edited(ASYNCAPI, add_sent_message_field)) == []
