"""What a started instance shares with its requests: the one object the ASGI lifespan state holds.

The lifespan state is a dict by the ASGI specification; Lexica puts one typed object in it, under one key, and
reads it back through `running_of` (a request, a WebSocket, the fast path, the server's drain), instead of several
string keys each read with its own cast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # security reads the authenticator from here: no import at run time, no cycle
    from lexica.platform.lifecycle import Lifecycle
    from lexica.platform.security import Authenticator

RUNNING_KEY = "lexica"
AppT = TypeVar("AppT")


@dataclass(frozen=True, slots=True)
class Running(Generic[AppT]):
    app: AppT  # the instance's services (lexica.state.AppState; generic so that the platform does not import it)
    implementations: Mapping[type[Any], Any]  # each generated interface -> the object that implements it
    authenticator: Authenticator
    lifecycle: Lifecycle  # the server starts the drain on SIGTERM through it (lexica.platform.server)

    def as_lifespan_state(self) -> dict[str, Any]:
        return {RUNNING_KEY: self}


def running_of(state: Mapping[str, Any] | None) -> Running[Any] | None:
    """The instance's `Running` from a lifespan (or request scope) state; None before start-up finished."""
    found = state.get(RUNNING_KEY) if state is not None else None
    return found if isinstance(found, Running) else None


def require_running(state: Mapping[str, Any] | None) -> Running[Any]:
    found = running_of(state)
    if found is None:
        raise RuntimeError("the app has not started: its lifespan did not run")
    return found
