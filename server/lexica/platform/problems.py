"""RFC 9457 problem documents: the one shape of every error a client can see."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError as SqlInterfaceError
from sqlalchemy.exc import OperationalError as SqlOperationalError
from sqlalchemy.exc import TimeoutError as SqlPoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from lexica.platform.context import current_request_id

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """Raise to answer with a problem document; the status must be declared for the operation in the spec."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = f"/problems/{slug}" if slug else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def field_error(location: Sequence[str | int], message: str, kind: str) -> dict[str, object]:
    """One entry of a validation problem's `errors`: where, what is wrong, and a machine-readable kind."""
    return {"location": list(location), "message": message, "type": kind}


def validation_problem(detail: str, *errors: Mapping[str, object]) -> ProblemError:
    """The 422 problem of a rule the app checks itself, in the same shape as the ones request validation raises."""
    return ProblemError(422, detail, slug="validation", title="Validation Failed", extra={"errors": list(errors)})


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    body.update(extra or {})
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_JSON)


def instance_of(request: Request) -> str:
    return request.scope.get("raw_path", b"").decode("latin-1") or request.url.path


def _location(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        type_=exc.type,
        instance=instance_of(request),
        headers=exc.headers,
        extra=exc.extra,
    )


ValidationOverride = Callable[[Request, Sequence[Mapping[str, Any]]], Response]


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Operations whose protocol prescribes another error shape (the OAuth 2.0 token endpoint) register one.
    overrides: Mapping[str, ValidationOverride] = getattr(request.app.state, "validation_overrides", {})
    override = overrides.get(getattr(exc, "operation_id", None) or "")
    if override is not None:
        return override(request, exc.errors())
    errors = [
        {
            "location": _location(err.get("loc", ())),
            "message": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    count = len(errors)
    return problem_response(
        422,
        "Validation Failed",
        f"{count} {'value is' if count == 1 else 'values are'} not valid.",
        type_="/problems/validation",
        instance=instance_of(request),
        extra={"errors": errors},
    )


def _allowed_methods(request: Request) -> str:
    """Every method served at this path (Starlette's own `Allow` names only the first matching route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods - {"HEAD"}))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 400 and "parsing the body" in str(exc.detail):
        # FastAPI's answer to a body it cannot decode; the spec declares that as a 422 validation problem.
        return problem_response(
            422,
            "Validation Failed",
            "The request body is not valid for its Content-Type.",
            type_="/problems/validation",
            instance=instance_of(request),
            extra={
                "errors": [{"location": ["body"], "message": "The body cannot be decoded.", "type": "body_invalid"}]
            },
        )
    if status == 405:
        allow = _allowed_methods(request)
        headers["Allow"] = allow
        detail = f"{request.method} is not supported here; use {allow or 'another method'}."
    elif status == 404:
        detail = f"Nothing is served at {request.url.path}."
    else:
        detail = str(exc.detail)
    return problem_response(status, HTTPStatus(status).phrase, detail, instance=instance_of(request), headers=headers)


# PostgreSQL's refusals of text it cannot hold: U+0000 in text (22021), `\u0000` in JSON (22P05).
_UNSTORABLE_TEXT_STATES = frozenset({"22021", "22P05"})


def unstorable_text_problem(exc: BaseException, instance: str) -> Response | None:
    """The 422 for a database error caused by the request's text (a NUL byte), or None for any other error."""
    for current in _chain(exc):
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if state in _UNSTORABLE_TEXT_STATES:
            return problem_response(
                422,
                "Validation Failed",
                "The request holds a character that cannot be stored (a NUL byte or another control character).",
                type_="/problems/validation",
                instance=instance,
                extra={"errors": [field_error(["body"], "Text may not hold U+0000.", "string_pattern_mismatch")]},
            )
    return None


def _chain(exc: BaseException, limit: int = 8) -> list[BaseException]:
    """The error and what caused it (a driver's error wrapped by SQLAlchemy, `raise … from`), nearest first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < limit and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return seen


DEPENDENCY_RETRY_AFTER_SECONDS = 5


def _lost_dependency(exc: BaseException) -> bool:
    """Whether the error says a dependency is unreachable (not that the request was wrong)."""
    if isinstance(exc, RedisError | SqlPoolTimeout):
        return True
    # PyMongo is imported only by a MongoDB deployment (lexica.storage.backends); without it, none of its errors.
    pymongo_errors = sys.modules.get("pymongo.errors")
    if pymongo_errors is not None and isinstance(exc, pymongo_errors.ConnectionFailure):
        return True
    # A DB-API connection-level error (the server went away or terminated the connection mid-statement).
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, SqlOperationalError | SqlInterfaceError)
    ):
        return True
    # What the database server said, whichever way the driver's error was wrapped: SQLAlchemy turns asyncpg's
    # AdminShutdownError (a backend terminated mid-statement) into a plain DBAPIError, and it marks the connection
    # invalidated only if the socket had closed by then — a race the fault-injection test lost once in CI.
    if _DISCONNECT_SQLSTATE.match(str(getattr(exc, "sqlstate", "") or "")):
        return True
    # A socket error that reached the app unwrapped (a driver raised it as it was): a connection was reset or refused.
    return isinstance(exc, ConnectionError)


# SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now) and
# 53300 (too many connections): the database is unreachable for now, whatever the statement was.
_DISCONNECT_SQLSTATE = re.compile(r"08...|57P0[123]|53300")


def unavailable_dependency_problem(exc: BaseException, instance: str) -> Response | None:
    """The 503 for an unreachable Redis or database, or None for any other error.

    Writes that must not be refused because of Redis (lists, entries, sign-in) never get here: their Redis side
    effects are best-effort or fall back to this process (docs/security.md, "When Redis is down"). A statement the
    database did not complete was rolled back; only a connection lost during COMMIT leaves a write in doubt, which
    is why the detail asks writers to retry with their Idempotency-Key or If-Match.
    """
    if not any(_lost_dependency(error) for error in _chain(exc)):
        return None
    return problem_response(
        503,
        "Service Unavailable",
        "A service this request depends on is unreachable; the request was not completed. Retry shortly "
        "(a write with the same Idempotency-Key or If-Match, so that it cannot apply twice).",
        type_="/problems/service-unavailable",
        instance=instance,
        headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER_SECONDS)},
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    # Other exceptions: platform.middleware.UnhandledErrorMiddleware (inside the stack, so the connection survives).
