"""Starlette, minimal route: the stored bytes from a path-parameter route."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.reference.entry import BODY, HEADWORD, ROUTE


async def word(request: Request) -> Response:
    if request.path_params["headword"] != HEADWORD:
        return Response(status_code=404)
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route(ROUTE, word)])
