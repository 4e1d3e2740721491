"""Cross-origin access for browser clients, configured by the settings."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from lexica.platform.problems import problem_response
from lexica.settings import Settings

ALLOW_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ALLOW_HEADERS = (
    "Accept",
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "X-API-Key",
    "X-Request-ID",
)
# Browsers hide other response headers from scripts unless they are listed here.
EXPOSE_HEADERS = ("ETag", "Location", "Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID")
PREFLIGHT_MAX_AGE_SECONDS = 600
_ENTITY_HEADERS = frozenset({"content-length", "content-type"})


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware (pure ASGI), answering a refused preflight with a problem document."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        return problem_response(
            400,
            "CORS Preflight Refused",
            f"This server's CORS policy does not allow the requested {refused}.",
            type_="/problems/cors-preflight-refused",
            headers={k: v for k, v in response.headers.items() if k not in _ENTITY_HEADERS},
        )


def headers_without_origin(settings: Settings) -> tuple[tuple[bytes, bytes], ...]:
    """What the CORS layer adds to the response to a request without `Origin` (Starlette's middleware always says
    `Vary: Origin` there, the response differing by origin); nothing when CORS is off."""
    return ((b"vary", b"Origin"),) if settings.cors_origins else ()


def add_cors(app: Starlette, settings: Settings) -> None:
    """Adds the CORS middleware at this point of the stack when `cors_origins` is set; otherwise nothing."""
    if not settings.cors_origins:
        return
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=settings.cors_allow_credentials,
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )
