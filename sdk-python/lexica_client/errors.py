"""The exceptions the client raises when the API answers with an error status.

Every error the API sends is an RFC 9457 problem document (`application/problem+json`). Each exception
carries the status, the problem's title and detail, and the parsed document itself. A response that is
not a problem document (a proxy's HTML page, say) still raises, with the status's reason as the title.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar

import httpx

from lexica_client._api.models.problem import Problem
from lexica_client._api.models.validation_error import ValidationError as ValidationErrorItem
from lexica_client._api.models.validation_problem import ValidationProblem
from lexica_client._api.types import Response

_MAX_DETAIL_CHARS = 500

_Model = TypeVar("_Model")


class LexicaError(Exception):
    """The API answered with an error status. Subclasses name the statuses a caller usually handles."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        problem: Problem | ValidationProblem | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.problem = problem
        self.request_id = request_id  # the server's X-Request-ID: quote it when reporting a problem
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")


class BadRequestError(LexicaError):
    """400: the request cannot be served as sent, e.g. a cursor that was altered or is for another listing."""


class UnauthorizedError(LexicaError):
    """401: credentials are missing, invalid, expired or revoked."""


class ForbiddenError(LexicaError):
    """403: the credentials are valid but do not allow this, e.g. changing another user's public list."""


class NotFoundError(LexicaError):
    """404: no entry for the headword, no such list (or a private list of another user), or nothing at the URL."""


class ConflictError(LexicaError):
    """409: the request conflicts with the resource's state, e.g. a list that is full."""


class PreconditionFailedError(LexicaError):
    """412: the resource changed since the ETag sent in `If-Match`; fetch it again and reapply the change."""


class ValidationError(LexicaError):
    """422: a parameter is not valid; `errors` says which and why."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        problem: Problem | ValidationProblem | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(status, title, detail, problem=problem, request_id=request_id)
        self.errors: list[ValidationErrorItem] = list(problem.errors) if isinstance(problem, ValidationProblem) else []


class PreconditionRequiredError(LexicaError):
    """428: the write needs `If-Match` with the resource's current ETag."""


class RateLimitedError(LexicaError):
    """429: over the request quota; `retry_after` is how many seconds to wait, when the server says."""

    retry_after: float | None = None


class UnexpectedResponseError(LexicaError):
    """Any other error status (405, 406, 5xx, ...), or a response the client cannot use."""


_BY_STATUS: dict[int, type[LexicaError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: ValidationError,
    428: PreconditionRequiredError,
    429: RateLimitedError,
}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP Error"


def _document(content: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _parse_problem(document: Mapping[str, Any]) -> Problem | ValidationProblem | None:
    model: type[Problem] | type[ValidationProblem] = (
        ValidationProblem if isinstance(document.get("errors"), list) else Problem
    )
    try:
        return model.from_dict(document)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not shaped like the spec's problem schema; title and detail are still read below


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def error_from_parts(status: int, headers: Mapping[str, str], content: bytes) -> LexicaError:
    """The exception for an error response, built from its status, headers and body."""
    document = _document(content)
    if document is None:
        text = content.decode("utf-8", errors="replace").strip()
        title, detail, problem = _reason(status), (text[:_MAX_DETAIL_CHARS] or None), None
    else:
        title = str(document.get("title") or _reason(status))
        raw_detail = document.get("detail")
        detail = raw_detail if isinstance(raw_detail, str) else None
        problem = _parse_problem(document)
    error_class = _BY_STATUS.get(status, UnexpectedResponseError)
    error = error_class(status, title, detail, problem=problem, request_id=headers.get("x-request-id"))
    if isinstance(error, RateLimitedError):
        error.retry_after = _retry_after(headers.get("retry-after"))
    return error


def error_from_response(response: httpx.Response) -> LexicaError:
    """The exception for an error response whose body has been read."""
    return error_from_parts(response.status_code, response.headers, response.content)


@contextmanager
def parsing(model: type[Any]) -> Iterator[None]:
    """Turns the generated parser's failure on a body that does not match the spec into a LexicaError."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        # Error statuses never reach the parser (the response hook raises first): this was a success status.
        raise UnexpectedResponseError(
            200, "Unexpected Response", f"the body is not a valid {model.__name__}: {exc!r}"
        ) from exc


def expect(response: Response[Any], model: type[_Model]) -> _Model:
    """The parsed body if it is a `model`; anything else (a 3xx, an undeclared 2xx) raises."""
    if isinstance(response.parsed, model):
        return response.parsed
    error = error_from_parts(int(response.status_code), response.headers, response.content)
    if error.detail is None:
        error.detail = f"the response holds no {model.__name__}"
    raise error
