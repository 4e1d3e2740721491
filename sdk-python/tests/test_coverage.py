"""Every operation of the spec is reachable from the public clients, as `client.<tag>.<method>` with the
parameters the spec declares: the generated resource layer cannot fall behind the spec."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from lexica_client import AsyncLexica, Lexica
from lexica_client.resources import OPERATIONS

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "lexica.yaml"
METHODS = ("get", "put", "post", "patch", "delete")
# Header parameters become these keywords; the rest keep their (snake_case) names.
HEADER_KEYWORDS = {
    "If-Match": "etag",
    "If-None-Match": "if_none_match",
    "Idempotency-Key": "idempotency_key",
    "Cache-Control": "cache_control",
    "Last-Event-ID": "last_event_id",
}
PER_CALL_OPTIONS = {"timeout", "max_retries", "extra_headers", "extra_query"}


def _spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return document


def _operations() -> list[tuple[str, list[tuple[str, str]], bool]]:
    """(operationId, [(parameter name, location)], has a request body) of every operation in the spec."""
    document = _spec()
    shared = document["components"]["parameters"]
    found = []
    for item in document["paths"].values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = []
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = shared[parameter["$ref"].rsplit("/", 1)[-1]]
                parameters.append((parameter["name"], parameter["in"]))
            found.append((operation["operationId"], parameters, "requestBody" in operation))
    return found


SPEC_OPERATIONS = _operations()


def test_the_spec_has_operations_and_each_is_mapped_once() -> None:
    ids = [operation_id for operation_id, _, _ in SPEC_OPERATIONS]
    assert len(ids) >= 38
    assert sorted(OPERATIONS) == sorted(ids)
    assert len(set(OPERATIONS.values())) == len(OPERATIONS), "two operations share a method"


@pytest.mark.parametrize(("operation_id", "parameters", "has_body"), SPEC_OPERATIONS, ids=lambda v: str(v)[:40])
def test_every_operation_is_a_method_of_both_clients_with_its_parameters(
    operation_id: str, parameters: list[tuple[str, str]], has_body: bool
) -> None:
    tag, name = OPERATIONS[operation_id].split(".")
    expected = {
        HEADER_KEYWORDS.get(p, p.replace("-", "_").lower()) if where == "header" else p for p, where in parameters
    }
    if has_body:
        expected.add("body")
    with Lexica("http://lexica.test") as sync_client:
        sync_resource = getattr(sync_client, tag)
        for method in (getattr(sync_resource, name), getattr(sync_resource.with_raw_response, name)):
            accepted = set(inspect.signature(method).parameters)
            assert expected | PER_CALL_OPTIONS <= accepted, f"{operation_id}: {sorted(expected - accepted)}"
    async_client = AsyncLexica("http://lexica.test")
    async_resource = getattr(async_client, tag)
    for method in (getattr(async_resource, name), getattr(async_resource.with_raw_response, name)):
        assert inspect.iscoroutinefunction(method), f"{operation_id} is not a coroutine on AsyncLexica"
        accepted = set(inspect.signature(method).parameters)
        assert expected | PER_CALL_OPTIONS <= accepted, f"{operation_id}: {sorted(expected - accepted)}"
