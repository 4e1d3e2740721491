from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from lexica.platform.cors import add_cors
from lexica.settings import Settings

APP_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"RateLimit": '"anonymous";r=9;t=60'})


def app_with_cors(**settings: Any) -> Starlette:
    app = Starlette(routes=[Route("/api/v1/words/{headword}", ok)])
    add_cors(app, Settings(environment="test", tune_gc=False, **settings))
    return app


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lexica.test")


def preflight(origin: str, method: str = "GET", headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_preflight_from_a_configured_origin_is_allowed() -> None:
    async with client_of(app_with_cors(cors_origins=[APP_ORIGIN])) as client:
        response = await client.options("/api/v1/words/apple", headers=preflight(APP_ORIGIN))

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_preflight_from_another_origin_is_refused_with_a_problem() -> None:
    async with client_of(app_with_cors(cors_origins=[APP_ORIGIN])) as client:
        response = await client.options("/api/v1/words/apple", headers=preflight(OTHER_ORIGIN))

    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/cors-preflight-refused"
    assert "origin" in problem["detail"]


async def test_simple_request_from_a_configured_origin_sees_the_rate_limit_headers() -> None:
    async with client_of(app_with_cors(cors_origins=[APP_ORIGIN], cors_allow_credentials=True)) as client:
        allowed = await client.get("/api/v1/words/apple", headers={"Origin": APP_ORIGIN})
        other = await client.get("/api/v1/words/apple", headers={"Origin": OTHER_ORIGIN})

    assert allowed.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = {h.strip().lower() for h in allowed.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ratelimit", "ratelimit-policy", "retry-after", "etag", "x-request-id"} <= exposed
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_without_configured_origins_no_cors_headers_are_sent() -> None:
    async with client_of(app_with_cors(cors_origins=[])) as client:
        response = await client.options("/api/v1/words/apple", headers=preflight(APP_ORIGIN))

    assert "Access-Control-Allow-Origin" not in response.headers
