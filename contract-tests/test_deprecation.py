"""`deprecated: true` in the spec makes the operation's answers carry `Deprecation` (RFC 9745) and, with a sunset
date, `Sunset` (RFC 8594): from the spec through `make generate`'s route bindings to the response. No operation of
the real spec is deprecated today, so the real spec is edited here the way a designer would."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from codegen import python_server
from codegen.spec import operations
from lexica.platform.binding import OperationInfo, render
from lexica.platform.reply import Reply

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "server" / "lexica" / "_generated" / "openapi.json").read_text())
HEADERS = {
    "Deprecation": {"description": "Deprecated since (RFC 9745).", "schema": {"type": "string"}},
    "Sunset": {"description": "Goes away at (RFC 8594).", "schema": {"type": "string"}},
}


def _deprecated_get_job(**extensions: Any) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(SPEC)
    operation = spec["paths"]["/api/v1/jobs/{job_id}"]["get"]
    operation["deprecated"] = True
    operation.update(extensions)
    operation["responses"]["200"].setdefault("headers", {}).update(HEADERS)
    return spec


def _get_job(spec: dict[str, Any]) -> Any:
    return next(operation for operation in operations(spec) if operation.operation_id == "getJob")


def test_a_deprecated_operation_gets_deprecation_and_sunset_headers_in_its_bindings() -> None:
    spec = _deprecated_get_job(**{"x-lexica-deprecated-since": "2026-12-01", "x-lexica-sunset": "2027-07-01"})
    operation = _get_job(spec)
    assert operation.deprecation_headers == (
        ("Deprecation", "@1796083200"),  # 2026-12-01T00:00:00Z
        ("Sunset", "Thu, 01 Jul 2027 00:00:00 GMT"),
    )
    routes = python_server.render(list(operations(spec)))["routes.py"]
    assert (
        'deprecation_headers=(("Deprecation", "@1796083200"), ("Sunset", "Thu, 01 Jul 2027 00:00:00 GMT"), ),' in routes
    )
    untouched = [op for op in operations(SPEC) if op.deprecation_headers]
    assert untouched == []


@pytest.mark.parametrize(
    ("extensions", "said"),
    [
        ({}, "needs `x-lexica-deprecated-since"),
        ({"x-lexica-deprecated-since": "first of December"}, "needs `x-lexica-deprecated-since"),
        (
            {"x-lexica-deprecated-since": "2026-12-01", "x-lexica-sunset": "2026-11-01"},
            "after x-lexica-deprecated-since",
        ),
    ],
)
def test_a_deprecation_without_its_dates_is_refused_by_make_generate(extensions: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        _get_job(_deprecated_get_job(**extensions))


def test_a_deprecated_operation_must_declare_the_headers_it_sends() -> None:
    spec = _deprecated_get_job(**{"x-lexica-deprecated-since": "2026-12-01", "x-lexica-sunset": "2027-07-01"})
    del spec["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]["headers"]["Sunset"]
    with pytest.raises(ValueError, match=r"its 200 response must declare \['Sunset'\]"):
        _get_job(spec)


def test_dates_are_only_for_deprecated_operations() -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/api/v1/jobs/{job_id}"]["get"]["x-lexica-sunset"] = "2027-07-01"
    with pytest.raises(ValueError, match="need `deprecated: true`"):
        _get_job(spec)


def test_the_binding_puts_the_headers_on_every_answer_of_the_implementation() -> None:
    operation = OperationInfo(
        operation_id="getJob",
        method="GET",
        path="/api/v1/jobs/{job_id}",
        route_path="/api/v1/jobs/{job_id}",
        produces=("application/json",),
        statuses=(200, 204),
        deprecation_headers=(("Deprecation", "@1796083200"), ("Sunset", "Thu, 01 Jul 2027 00:00:00 GMT")),
    )
    replies: list[Reply[Any]] = [Reply.empty(204, {"ETag": '"1"'}), Reply(None, status=200)]
    for reply in replies:
        response = render(reply, operation)
        assert response.headers["deprecation"] == "@1796083200"
        assert response.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert render(Reply.empty(204, {"ETag": '"1"'}), operation).headers["etag"] == '"1"'
