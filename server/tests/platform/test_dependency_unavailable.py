"""An unreachable database or Redis is a declared 503 problem with `Retry-After`, never a 500."""

from __future__ import annotations

import orjson
import pytest
from asyncpg.exceptions import AdminShutdownError, UniqueViolationError  # type: ignore[import-untyped]
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from lexica.platform.problems import unavailable_dependency_problem
from lexica.platform.redis_client import CircuitOpenError


class ConnectionDoesNotExistError(Exception):
    """Stands for asyncpg's error, which SQLAlchemy wraps."""


def _wrapped(error: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("while handling the request") from error
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        InterfaceError("SELECT 1", {}, ConnectionDoesNotExistError("connection was closed in the middle of operation")),
        OperationalError("COMMIT", {}, ConnectionDoesNotExistError("terminated"), connection_invalidated=True),
        # asyncpg's error for a backend terminated mid-statement, as SQLAlchemy wraps it when the socket has not
        # closed yet: a plain DBAPIError, not marked invalidated (a lookup answered 500 in CI this way).
        DBAPIError("SELECT", {}, AdminShutdownError("terminating connection due to administrator command")),
        _wrapped(ConnectionResetError(104, "Connection reset by peer")),
        PoolTimeout("QueuePool limit reached"),
        AutoReconnect("connection reset"),
        ServerSelectionTimeoutError("no servers"),
        RedisConnectionError("Error 111 connecting"),
        CircuitOpenError("circuit open"),
        _wrapped(RedisConnectionError("Error 111 connecting")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_unreachable_dependency_is_a_503_problem_with_retry_after(error: BaseException) -> None:
    response = unavailable_dependency_problem(error, "/api/v1/lists")

    assert response is not None
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    body = orjson.loads(response.body)
    assert (body["type"], body["status"], body["instance"]) == ("/problems/service-unavailable", 503, "/api/v1/lists")


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        DBAPIError("INSERT", {}, UniqueViolationError("duplicate key value violates unique constraint")),
        ValueError("a bug"),
        KeyError("a bug"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_are_not_called_unavailable(error: BaseException) -> None:
    assert unavailable_dependency_problem(error, "/api/v1/lists") is None
