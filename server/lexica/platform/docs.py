"""Serve the hand-written spec (bundled to JSON by codegen) with Swagger UI and ReDoc over it."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

DOC_PATHS = frozenset({"/openapi.json", "/docs", "/redoc"})


def bundled_spec() -> bytes:
    return (resources.files("lexica._generated") / "openapi.json").read_bytes()


def mount_docs(app: FastAPI) -> None:
    spec = bundled_spec()
    title = str(app.title)

    async def openapi_json(_: Request) -> Response:
        return Response(spec, media_type="application/json", headers={"Cache-Control": "public, max-age=300"})

    async def swagger_ui(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{title} API")

    async def redoc(_: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{title} API")

    app.add_route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)
    app.add_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
