"""BlackSheep, minimal route: the stored bytes from a path-parameter route."""

from __future__ import annotations

from blacksheep import Application, Content, Response, not_found

from bench.reference.entry import BODY, HEADWORD, ROUTE

app = Application()
CONTENT_TYPE = b"application/json"


@app.router.get(ROUTE)
async def word(headword: str) -> Response:
    if headword != HEADWORD:
        return not_found()
    return Response(200, content=Content(CONTENT_TYPE, BODY))
