"""Who is calling: the principal type, the authenticator port and the dependency the route bindings use."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request

from lexica.platform.context import note_user
from lexica.platform.problems import ProblemError
from lexica.platform.running import require_running

if TYPE_CHECKING:
    from lexica.platform.binding import OperationInfo


class Role(enum.IntEnum):
    """Roles in increasing order of power: each includes the ones below it."""

    READER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    via: str  # "token" or "api_key"
    api_key_id: str | None = None


class Authenticator(Protocol):
    async def authenticate(self, request: Request) -> Principal | None:
        """The principal the request's credentials identify; None without credentials.

        Raises a 401 `ProblemError` when credentials are present but invalid, expired or revoked.
        """
        ...


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        detail,
        slug="unauthorized",
        title="Unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="lexica"'},
    )


async def authenticate(request: Request, operation: OperationInfo) -> Principal:
    """The caller of a secured operation, checked before its parameters are; 401 or 403 problems otherwise."""
    authenticator = require_running(request.scope.get("state")).authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        raise unauthorized("This operation needs credentials: a bearer token or an API key.")
    required = Role.parse(operation.role) if operation.role else Role.READER
    note_user(principal.user_id)
    if principal.role < required:
        raise ProblemError(403, f"This operation needs the {required.label} role.", slug="forbidden", title="Forbidden")
    return principal


async def authenticate_if_present(request: Request, operation: OperationInfo) -> Principal | None:
    """The caller of an operation open to anonymous clients: None without credentials, 401 for bad ones."""
    authenticator = require_running(request.scope.get("state")).authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        return None
    note_user(principal.user_id)
    required = Role.parse(operation.role) if operation.role else Role.READER
    if principal.role < required:
        raise ProblemError(403, f"This operation needs the {required.label} role.", slug="forbidden", title="Forbidden")
    return principal
