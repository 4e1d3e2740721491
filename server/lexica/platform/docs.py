"""Serve the hand-written spec (bundled to JSON by codegen) with Swagger UI and ReDoc over it.

The UI assets come from the `fastapi-offline` package (swagger-ui-dist and the ReDoc standalone bundle, pinned in
constraints.txt) and are served from this origin: no page loads anything from a CDN, and a Content-Security-Policy
tells browsers to refuse any script, style or connection that is not same-origin. `LEXICA_DOCS_ENABLED=false`
removes the pages and their assets (the spec itself stays at /openapi.json: it is the public contract).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
# Each asset's URL and its file in ASSETS_DIR; under /docs and /redoc so they get the docs' security headers.
ASSETS = {
    "/docs/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "/docs/swagger-ui.css": "swagger-ui.css",
    "/docs/favicon.png": "favicon.png",
    "/redoc/redoc.standalone.js": "redoc.standalone.js",
}
SWAGGER_INIT = "/docs/swagger-init.js"
DOC_PATHS = frozenset({"/openapi.json", "/docs", "/redoc", SWAGGER_INIT, *ASSETS})
# Same-origin only. Inline styles are allowed (both UIs set style attributes); inline scripts are not.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_ASSET_CACHE = "public, max-age=86400"
# An external script, not an inline one, so that the page's CSP can forbid inline scripts.
_INIT_SCRIPT = """window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.specUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
});
"""


def bundled_spec() -> bytes:
    return (resources.files("lexica._generated") / "openapi.json").read_bytes()


_ICON = '<link rel="icon" type="image/png" href="/docs/favicon.png">\n'


def documentation_page(title: str, head: str, body: str, *, cache: str = "no-cache") -> HTMLResponse:
    """An HTML page of the documentation (these and lexica.platform.pages), under the same-origin `DOCS_CSP`."""
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )
    return HTMLResponse(document, headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": cache})


def mount_docs(app: FastAPI, *, enabled: bool = True) -> None:
    spec = bundled_spec()
    title = f"{app.title} API"

    async def openapi_json(_: Request) -> Response:
        return Response(spec, media_type="application/json", headers={"Cache-Control": "public, max-age=300"})

    app.add_route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)
    if not enabled:
        return

    async def swagger_ui(_: Request) -> HTMLResponse:
        return documentation_page(
            title,
            _ICON + '<link rel="stylesheet" href="/docs/swagger-ui.css">\n',
            '<div id="swagger-ui" data-spec-url="/openapi.json"></div>\n'
            '<script src="/docs/swagger-ui-bundle.js"></script>\n'
            f'<script src="{SWAGGER_INIT}"></script>\n',
        )

    async def swagger_init(_: Request) -> Response:
        return Response(_INIT_SCRIPT, media_type="text/javascript", headers={"Cache-Control": _ASSET_CACHE})

    async def redoc(_: Request) -> HTMLResponse:
        return documentation_page(
            title,
            _ICON,
            '<redoc spec-url="/openapi.json"></redoc>\n<script src="/redoc/redoc.standalone.js"></script>\n',
        )

    app.add_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_route(SWAGGER_INIT, swagger_init, methods=["GET"], include_in_schema=False)
    app.add_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    for path, name in ASSETS.items():
        app.add_route(path, _asset(ASSETS_DIR / name), methods=["GET"], include_in_schema=False)


def _asset(file: Path) -> Callable[[Request], Awaitable[Response]]:
    if not file.is_file():  # a broken install: fail at start-up, not on the first visit
        raise FileNotFoundError(f"documentation asset {file} is missing; reinstall fastapi-offline")

    async def serve(_: Request) -> Response:
        return FileResponse(file, headers={"Cache-Control": _ASSET_CACHE})

    return serve
