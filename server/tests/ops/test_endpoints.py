"""Liveness and readiness probes."""

from __future__ import annotations

import httpx


async def test_liveness_is_ok_and_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_readiness_is_ok_with_storage_and_dictionary(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"storage": "ok", "dictionary": "ok"}}


async def test_readiness_is_503_problem_when_the_dictionary_is_not_loaded(
    empty_client: httpx.AsyncClient,
) -> None:
    response = await empty_client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"storage": "ok", "dictionary": "failing"}
