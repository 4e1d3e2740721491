"""`OpsApi` implementation: probes for orchestrators and load balancers, metrics for Prometheus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from lexica._generated import models
from lexica._generated.interfaces import OpsApi
from lexica.platform.lifecycle import Lifecycle
from lexica.platform.metrics import InstanceMetrics
from lexica.platform.problems import ProblemError
from lexica.platform.reply import Reply, Serialised
from lexica.platform.security import Principal, Role, unauthorized

NO_STORE = {"Cache-Control": "no-store"}
CHECK_TIMEOUT_SECONDS = 2.0
logger = logging.getLogger("lexica.ops")

Check = Callable[[], Awaitable[bool]]


class OpsEndpoints(OpsApi):
    def __init__(
        self,
        checks: Mapping[str, Check],
        lifecycle: Lifecycle,
        *,
        metrics: InstanceMetrics,
        metrics_access: Literal["public", "admin"],
        optional: frozenset[str] = frozenset(),
    ) -> None:
        """`optional`: checks whose failure leaves the instance serving, with fallbacks (`degraded`, still 200)."""
        self._checks = checks
        self._lifecycle = lifecycle
        self._optional = optional
        self._metrics = metrics
        self._metrics_access = metrics_access

    async def get_liveness(self) -> Reply[models.Liveness]:
        return Reply(models.Liveness(status="ok"), headers=NO_STORE)

    async def _run(self, name: str, check: Check) -> models.CheckState:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                healthy = await check()
        except Exception:
            logger.warning("readiness check %s failed", name, exc_info=True)
            healthy = False
        return models.CheckState.OK if healthy else models.CheckState.FAILING

    async def get_readiness(self) -> Reply[models.Readiness]:
        names = list(self._checks)
        states = await asyncio.gather(*(self._run(name, self._checks[name]) for name in names))
        checks = dict(zip(names, states, strict=True))
        failing = [name for name, state in checks.items() if state is not models.CheckState.OK]
        required_failing = [name for name in failing if name not in self._optional]
        draining = self._lifecycle.draining  # shutting down: a load balancer should send new work elsewhere
        if required_failing or draining:
            raise ProblemError(
                503,
                "Not ready: shutting down." if draining else f"Not ready: {', '.join(required_failing)} failing.",
                slug="not-ready",
                title="Not Ready",
                headers=NO_STORE,
                extra={"checks": {name: state.value for name, state in checks.items()}},
            )
        status = models.Status.DEGRADED if failing else models.Status.OK
        return Reply(models.Readiness(status=status, checks=checks), headers=NO_STORE)

    async def get_metrics(self, *, principal: Principal | None) -> Reply[None]:
        if self._metrics_access == "admin":
            if principal is None:
                raise unauthorized("The metrics need an admin's credentials: a bearer token or an API key.")
            if principal.role < Role.ADMIN:
                raise ProblemError(403, "The metrics need the admin role.", slug="forbidden", title="Forbidden")
        return Reply(Serialised(self._metrics.exposition()), headers=NO_STORE)
