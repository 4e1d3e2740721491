"""`lexica_client.errors`: the class of every status, what an error carries, and responses the client cannot use."""

from __future__ import annotations

import inspect

import httpx
import pytest
from mock_api import PROBLEM_JSON, REQUEST_ID, ScriptedAPI, Step, fail, problem, reply

from lexica_client import errors
from lexica_client._api.models.problem import Problem
from lexica_client._api.models.validation_problem import ValidationProblem
from lexica_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InternalServerError,
    LexicaError,
    MethodNotAllowedError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    PreconditionRequiredError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
    ValidationError,
)

CLASS_OF_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    406: NotAcceptableError,
    408: RequestTimeoutError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    418: UnexpectedResponseError,
    422: ValidationError,
    428: PreconditionRequiredError,
    429: RateLimitedError,
    500: InternalServerError,
    502: InternalServerError,
    503: ServiceUnavailableError,
    504: InternalServerError,
}
FIELD_ERRORS = [
    {"location": ["query", "limit"], "message": "must be at most 100", "type": "less_than_equal"},
    {"location": ["body", 3, "headword"], "message": "must not be empty", "type": "string_too_short"},
]
PROXY_PAGE = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


def raised_by(answer: Step) -> APIStatusError:
    """The error `words.get` raises when the server answers so (without retrying)."""
    api = ScriptedAPI(answer)
    with api.client(max_retries=0) as lexica, pytest.raises(APIStatusError) as caught:
        lexica.words.get("apple")
    return caught.value


@pytest.mark.parametrize(("status", "error_class"), CLASS_OF_STATUS.items())
def test_every_error_status_raises_its_class(status: int, error_class: type[APIStatusError]) -> None:
    error = raised_by(problem(status, errors=[]))
    assert type(error) is error_class
    assert error.status == error.status_code == status


def test_error_carries_the_problem_request_id_headers_and_response() -> None:
    error = raised_by(
        problem(404, slug="not-found", title="Not Found", detail="No entry for 'aple'.", headers={"X-Extra": "1"})
    )
    assert isinstance(error, NotFoundError)
    assert (error.title, error.detail, error.type) == ("Not Found", "No entry for 'aple'.", "/problems/not-found")
    assert isinstance(error.problem, Problem)
    assert error.problem.detail == "No entry for 'aple'."
    assert error.body is not None
    assert error.body["status"] == 404
    assert error.request_id == REQUEST_ID
    assert error.headers["x-extra"] == "1"
    assert error.response is not None
    assert error.response.status_code == 404
    assert str(error) == f"404 Not Found: No entry for 'aple'. (request id {REQUEST_ID})"


def test_a_missing_headword_carries_the_suggestions() -> None:
    suggestions = [
        {"headword": "apple", "href": "/api/v1/words/apple"},
        {"headword": "ample", "href": "/api/v1/words/ample"},
    ]
    error = raised_by(
        problem(
            404, slug="entry-not-found", title="Entry Not Found", detail="No entry for 'aple'.", suggestions=suggestions
        )
    )
    assert isinstance(error, NotFoundError)
    assert [(item.headword, item.href) for item in error.suggestions] == [
        ("apple", "/api/v1/words/apple"),
        ("ample", "/api/v1/words/ample"),
    ]
    assert error.detail == "No entry for 'aple'."


def test_a_not_found_without_suggestions_has_none() -> None:
    assert raised_by(problem(404, slug="not-found", title="Not Found")).suggestions == []  # type: ignore[attr-defined]


def test_validation_error_names_the_field_errors_in_its_message() -> None:
    error = raised_by(problem(422, slug="validation", title="Validation Failed", errors=FIELD_ERRORS))
    assert isinstance(error, ValidationError)
    assert isinstance(error.problem, ValidationProblem)
    assert [item.message for item in error.errors] == ["must be at most 100", "must not be empty"]
    assert "query.limit: must be at most 100" in str(error)
    assert "body.3.headword: must not be empty" in str(error)


@pytest.mark.parametrize(("status", "error_class"), [(502, InternalServerError), (404, NotFoundError)])
def test_non_json_body_still_raises_the_class_of_its_status(status: int, error_class: type[APIStatusError]) -> None:
    error = raised_by(reply(status, content=PROXY_PAGE, content_type="text/html"))
    assert type(error) is error_class
    assert error.title == httpx.codes.get_reason_phrase(status)
    assert error.detail is not None
    assert "nginx" in error.detail
    assert error.problem is None
    assert error.body is None
    assert error.type == "about:blank"
    assert error.request_id == REQUEST_ID  # from X-Request-ID: there is no problem document to read it from


def test_problem_json_that_does_not_match_the_schema_keeps_title_and_detail() -> None:
    error = raised_by(reply(400, {"title": "Bad cursor", "detail": "Start again."}, content_type=PROBLEM_JSON))
    assert isinstance(error, BadRequestError)
    assert (error.title, error.detail, error.problem) == ("Bad cursor", "Start again.", None)


def test_rate_limited_error_carries_retry_after() -> None:
    error = raised_by(problem(429, headers={"Retry-After": "7"}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0


def test_service_unavailable_error_carries_retry_after() -> None:
    error = raised_by(problem(503, headers={"Retry-After": "3"}))
    assert isinstance(error, ServiceUnavailableError)
    assert error.retry_after == 3.0


@pytest.mark.parametrize("value", [None, "nan", "whenever"])
def test_rate_limited_error_without_usable_retry_after_has_none(value: str | None) -> None:
    headers = {} if value is None else {"Retry-After": value}
    error = raised_by(problem(429, headers=headers))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is None


def test_every_error_class_derives_from_lexica_error() -> None:
    classes = [value for _, value in inspect.getmembers(errors, inspect.isclass) if issubclass(value, Exception)]
    assert len(classes) >= len(set(CLASS_OF_STATUS.values())) + 4
    assert all(issubclass(error_class, LexicaError) for error_class in classes)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(ServiceUnavailableError, InternalServerError)


def test_connection_error_carries_the_request() -> None:
    api = ScriptedAPI(fail(httpx.ConnectError))
    with api.client(max_retries=0) as lexica, pytest.raises(APIConnectionError) as caught:
        lexica.words.get("apple")
    assert caught.value.request is not None
    assert caught.value.request.url.path == "/api/v1/words/apple"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"headword": "apple"}', id="missing-members"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
    ],
)
def test_success_status_with_a_body_not_in_the_spec_raises_unexpected_response_error(body: bytes) -> None:
    error = raised_by(reply(200, content=body, headers={"ETag": '"1-apple"'}))
    assert isinstance(error, UnexpectedResponseError)
    assert error.status == 200
    assert error.request_id == REQUEST_ID
    assert error.detail is not None
    assert "Entry" in error.detail


def test_success_without_the_declared_etag_raises_unexpected_response_error() -> None:
    error = raised_by(reply(200, {"headword": "apple", "version": 1, "parts_of_speech": [], "links": []}))
    assert isinstance(error, UnexpectedResponseError)
    assert error.detail == "the response has no ETag"


def test_success_status_the_operation_does_not_declare_raises_unexpected_response_error() -> None:
    error = raised_by(reply(202, {"accepted": True}))
    assert isinstance(error, UnexpectedResponseError)
    assert error.status == 202
