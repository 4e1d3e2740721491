"""Requests counted on the hot path in plain Python, for the RED metrics (rate, errors, duration).

Every request ends in one call, `RequestTally.finished`, from the outermost layer that answered it (the stack's
request-id layer, or a fast path in front of it): a dictionary lookup, three additions and a bisect, about a
microsecond. prometheus-client is not called per request (a lock per sample, and an mmap write per sample with
several workers); `lexica.platform.metrics` copies the tallies into its metrics when scraped and once a second.

Labels stay bounded: the route is the spec's path template (never the raw path; `unmatched` when no route answered:
a path no route has, or a method the path does not have), the method one of HTTP's own or `other`, the status its
class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from lexica.platform.context import current_note
from lexica.platform.observations import Observations

# Seconds. A cached lookup takes well under a millisecond in process; a cold one or a write, milliseconds; exports
# and event streams, long. The latency SLO's threshold (50 ms, deploy/prometheus) must be one of the bounds.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")  # Starlette's `{headword:path}` is the spec's `{headword}`


@dataclass(frozen=True, slots=True)
class Series:
    method: str
    route: str
    status_class: str


class RequestTally:
    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str, int], Observations] = {}
        self._in_flight: dict[tuple[str, str], int] = {}

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request answered (`status`) in `seconds`."""
        if method not in KNOWN_METHODS:  # any token is a method: the client must not choose the label values
            method = "other"
        key = (method, route, status // 100)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = Observations(DURATION_BUCKETS)
        tally.add(seconds)

    def started_on(self, method: str, route: str) -> None:
        """A request began on a route (it is in flight until `ended_on`); `method` is the route's own."""
        key = (method, route)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1

    def ended_on(self, method: str, route: str) -> None:
        self._in_flight[(method, route)] -= 1

    def tallies(self) -> list[tuple[Series, Observations]]:
        """Every series counted so far (requests of one method, route and status class), totals since start-up."""
        return [
            (Series(method, route, f"{status_class}xx"), tally)
            for (method, route, status_class), tally in self._tallies.items()
        ]

    def in_flight(self) -> dict[tuple[str, str], int]:
        """(method, route) -> requests being answered now."""
        return dict(self._in_flight)


class InFlight:
    """Pure ASGI, around one route's endpoint: the request is in flight until its response (a stream too) ends."""

    def __init__(self, app: ASGIApp, tally: RequestTally, route: str) -> None:
        self.app = app
        self._tally = tally
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]  # one of the route's methods: another was answered 405 before this
        if (note := current_note()) is not None:
            note.route = self._route
        self._tally.started_on(method, self._route)
        try:
            await self.app(scope, receive, send)
        finally:
            self._tally.ended_on(method, self._route)


def count_in_flight(router: Router, tally: RequestTally) -> None:
    """Wrap every route's endpoint of `router` in `InFlight` (once the routes are all added)."""
    for route in router.routes:
        if isinstance(route, Route):
            route.app = InFlight(route.app, tally, _CONVERTOR.sub(r"{\1}", route.path))
