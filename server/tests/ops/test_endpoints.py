"""Liveness and readiness probes."""

from __future__ import annotations

import httpx
import pytest

from lexica._generated import models
from lexica.ops.endpoints import Check, OpsEndpoints
from lexica.platform.lifecycle import Lifecycle
from lexica.platform.metrics import CacheCounts, InstanceMetrics
from lexica.platform.problems import ProblemError
from tests.ops.test_metrics import only_the_cache


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


async def _ok() -> bool:
    return True


async def _down() -> bool:
    raise ConnectionError("unreachable")


def _ops(checks: dict[str, Check]) -> OpsEndpoints:
    metrics = InstanceMetrics(only_the_cache(lambda: CacheCounts(hits=0, misses=0, reads=0, entries=0)))
    return OpsEndpoints(checks, Lifecycle(), optional=frozenset({"redis"}), metrics=metrics, metrics_access="public")


async def test_readiness_is_degraded_not_503_when_only_an_optional_dependency_fails() -> None:
    ops = _ops({"storage": _ok, "redis": _down})

    reply = await ops.get_readiness()

    assert reply.status == 200
    assert reply.body == models.Readiness(
        status=models.Status.DEGRADED, checks={"storage": models.CheckState.OK, "redis": models.CheckState.FAILING}
    )


async def test_readiness_is_503_when_a_required_dependency_fails_whatever_the_optional_ones_do() -> None:
    ops = _ops({"storage": _down, "redis": _ok})

    with pytest.raises(ProblemError) as raised:
        await ops.get_readiness()

    assert raised.value.status == 503
    assert raised.value.detail == "Not ready: storage failing."
