"""Every exception the client raises derives from `LexicaError`.

    LexicaError
    ├── APIConnectionError          the request did not get a response (refused, reset, DNS, TLS)
    │   └── APITimeoutError         ... because a timeout ran out
    └── APIStatusError              the API answered with an error status (RFC 9457 problem document)
        ├── BadRequestError                400
        ├── UnauthorizedError              401
        ├── ForbiddenError                 403
        ├── NotFoundError                  404 (`suggestions`: headwords it may have meant)
        ├── MethodNotAllowedError          405
        ├── NotAcceptableError             406
        ├── RequestTimeoutError            408
        ├── ConflictError                  409
        ├── PreconditionFailedError        412
        ├── PayloadTooLargeError           413
        ├── UnsupportedMediaTypeError      415
        ├── ValidationError                422 (`errors`: which field, why)
        ├── PreconditionRequiredError      428
        ├── RateLimitedError               429 (`retry_after`)
        ├── InternalServerError            5xx
        │   └── ServiceUnavailableError    503 (`retry_after`)
        └── UnexpectedResponseError        any other status, or a body the client cannot use

An `APIStatusError` carries the status, the problem's `type`, `title` and `detail`, the parsed problem document
(`problem`) and its raw JSON (`body`), the server's request id (`request_id`: quote it when reporting a
problem), the response `headers` and the `response` itself. A response that is not a problem document (a proxy's
HTML page, say) still raises the class of its status, with the status's reason as the title.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from lexica_client._api.models.entry_not_found_problem import EntryNotFoundProblem
from lexica_client._api.models.headword_item import HeadwordItem
from lexica_client._api.models.problem import Problem
from lexica_client._api.models.validation_error import ValidationError as ValidationErrorItem
from lexica_client._api.models.validation_problem import ValidationProblem

_MAX_DETAIL_CHARS = 500
# Digits, as RFC 9110 writes delay-seconds (and a fraction): not Python's float syntax, whose "nan" cannot be slept.
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
REQUEST_ID_HEADER = "x-request-id"


class LexicaError(Exception):
    """The base of every exception this client raises."""

    request_id: str | None = None


class APIConnectionError(LexicaError):
    """No response: the connection was refused, reset or dropped, or the name did not resolve.

    Raised after the client's retries are used up; `__cause__` is the underlying `httpx` exception.
    """

    def __init__(self, message: str = "Connection error.", *, request: httpx.Request | None = None) -> None:
        self.request = request
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """No response within the timeout (connecting, sending, waiting for or reading the response)."""

    def __init__(self, message: str = "Request timed out.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)


class APIStatusError(LexicaError):
    """The API answered with an error status; subclasses name each status the spec declares."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        problem: Problem | ValidationProblem | EntryNotFoundProblem | None = None,
        request_id: str | None = None,
        body: Mapping[str, Any] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.problem = problem
        self.request_id = request_id
        self.body: Mapping[str, Any] | None = body
        self.response = response
        self.headers: httpx.Headers = response.headers if response is not None else httpx.Headers()
        raw_type = body.get("type") if body is not None else None
        self.type: str = raw_type if isinstance(raw_type, str) else "about:blank"
        super().__init__(self._message())

    @property
    def status_code(self) -> int:
        return self.status

    def _message(self) -> str:
        text = f"{self.status} {self.title}: {self.detail}" if self.detail else f"{self.status} {self.title}"
        return f"{text} (request id {self.request_id})" if self.request_id else text

    def __str__(self) -> str:
        return self._message()


class BadRequestError(APIStatusError):
    """400: the request cannot be served as sent, e.g. a cursor that was altered or is for another listing."""


class UnauthorizedError(APIStatusError):
    """401: credentials are missing, invalid, expired or revoked."""


class ForbiddenError(APIStatusError):
    """403: the credentials are valid but do not allow this, e.g. changing another user's public list."""


class NotFoundError(APIStatusError):
    """404: no entry for the headword, no such list (or a private list of another user), or nothing at the URL.

    For a headword, `suggestions` lists up to five that the dictionary has, spelt or begun like it, likeliest first.
    """

    @property
    def suggestions(self) -> list[HeadwordItem]:
        if isinstance(self.problem, EntryNotFoundProblem) and isinstance(self.problem.suggestions, list):
            return list(self.problem.suggestions)
        return []


class MethodNotAllowedError(APIStatusError):
    """405: the path exists, the method does not."""


class NotAcceptableError(APIStatusError):
    """406: the API cannot answer in a media type the request's `Accept` allows."""


class RequestTimeoutError(APIStatusError):
    """408: the request (its head or body) did not arrive in time; retried by default."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state, e.g. a list that is full or a finished job.

    A 409 `idempotency-key-in-use` (the first request with the same `Idempotency-Key` still runs) is retried.
    """


class PreconditionFailedError(APIStatusError):
    """412: the resource changed since the ETag sent in `If-Match`; fetch it again and reapply the change."""


class PayloadTooLargeError(APIStatusError):
    """413: the body is larger than the operation accepts."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the body's `Content-Type` is not one the operation accepts."""


class ValidationError(APIStatusError):
    """422: a parameter or a body member is not valid; `errors` says which and why (also in `str(error)`)."""

    @property
    def errors(self) -> list[ValidationErrorItem]:
        return list(self.problem.errors) if isinstance(self.problem, ValidationProblem) else []

    def _message(self) -> str:
        fields = "; ".join(f"{'.'.join(str(part) for part in item.location)}: {item.message}" for item in self.errors)
        return f"{super()._message()} [{fields}]" if fields else super()._message()


class PreconditionRequiredError(APIStatusError):
    """428: the write needs `If-Match` with the resource's current ETag."""


class RateLimitedError(APIStatusError):
    """429: over the request quota (or a job limit); `retry_after` is how many seconds to wait, when known.

    Retried by default, after the server's `Retry-After`.
    """

    retry_after: float | None = None


class InternalServerError(APIStatusError):
    """5xx: the server failed. Retried by default for reads and for writes sent with an `Idempotency-Key`."""


class ServiceUnavailableError(InternalServerError):
    """503: a dependency (the database, Redis, the job queue) is down for now; `retry_after` says when to retry."""

    retry_after: float | None = None


class UnexpectedResponseError(APIStatusError):
    """Any other error status, or a response the client cannot use (not the declared status or body)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
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
    422: ValidationError,
    428: PreconditionRequiredError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
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


def _parse_problem(document: Mapping[str, Any]) -> Problem | ValidationProblem | EntryNotFoundProblem | None:
    model: type[Problem] | type[ValidationProblem] | type[EntryNotFoundProblem] = Problem
    if isinstance(document.get("errors"), list):
        model = ValidationProblem
    elif isinstance(document.get("suggestions"), list):
        model = EntryNotFoundProblem
    try:
        return model.from_dict(document)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not shaped like the spec's problem schema; title and detail are still read below


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); None if unusable."""
    if value is None:
        return None
    if _DELAY_SECONDS.fullmatch(value.strip()):
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def error_class(status: int) -> type[APIStatusError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return InternalServerError if status >= 500 else UnexpectedResponseError


def error_from_parts(
    status: int, headers: Mapping[str, str], content: bytes, *, response: httpx.Response | None = None
) -> APIStatusError:
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
    error = error_class(status)(
        status,
        title,
        detail,
        problem=problem,
        request_id=headers.get(REQUEST_ID_HEADER),
        body=document,
        response=response,
    )
    if isinstance(error, RateLimitedError | ServiceUnavailableError):
        error.retry_after = retry_after_seconds(headers.get("retry-after"))
    return error


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The exception for an error response whose body has been read."""
    return error_from_parts(response.status_code, response.headers, response.content, response=response)


def unexpected(response: httpx.Response, detail: str) -> UnexpectedResponseError:
    """A success status whose response the client cannot use (wrong status, no ETag, a body not in the spec)."""
    return UnexpectedResponseError(
        response.status_code,
        "Unexpected Response",
        detail,
        request_id=response.headers.get(REQUEST_ID_HEADER),
        response=response,
    )


@contextmanager
def parsing(model: type[Any], response: httpx.Response | None = None) -> Iterator[None]:
    """Turns the generated parser's failure on a body that does not match the spec into a LexicaError."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        # Error statuses never reach the parser (they raise first): this was a success status.
        detail = f"the body is not a valid {model.__name__}: {exc!r}"
        if response is not None:
            raise unexpected(response, detail) from exc
        raise UnexpectedResponseError(200, "Unexpected Response", detail) from exc
