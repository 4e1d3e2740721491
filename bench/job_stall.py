"""How much jobs slow the API down: one client reads an entry every 20 ms while an admin runs GCIDE imports (one, then
four started together), and the reads' latencies are the measure. `make bench` prints the table for the embedded
mode (no Redis: the API starts a worker process per job) and the Redis mode (`lexica worker` runs them);
`contract-tests/test_job_stall_live.py` holds the embedded mode to a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass

import httpx

READ_PATH = "/api/v1/words/apple"
READ_EVERY_SECONDS = 0.020
JOB_POLL_SECONDS = 0.5
ADMIN = ("bench-jobs@lexica.test", "Bench-Barrel-Cooper-58")


@dataclass(frozen=True)
class Reads:
    """The latencies of the reads made while the imports ran, in ms, and how the imports ended."""

    latencies_ms: list[float]
    outcomes: list[str]

    @property
    def worst_ms(self) -> float:
        return max(self.latencies_ms)

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    def row(self, label: str) -> str:
        return (
            f"| {label} | {len(self.latencies_ms):,} | {self.percentile(50):.1f} ms | {self.percentile(99):.1f} ms "
            f"| {self.worst_ms:.0f} ms |"
        )


TABLE_HEAD = "| while | reads | p50 | p99 | worst |\n|---|---|---|---|---|"


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    form = {"grant_type": "password", "username": email, "password": password}
    answer = await client.post("/api/v1/auth/token", data=form)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _read_steadily(client: httpx.AsyncClient, latencies: list[float]) -> None:
    """One read every READ_EVERY_SECONDS (the next one starts on time, or at once when a read took longer)."""
    due = time.perf_counter()
    while True:
        began = time.perf_counter()
        answer = await client.get(READ_PATH)
        latencies.append((time.perf_counter() - began) * 1000)
        if answer.status_code not in (200, 404):  # 404: apple is not imported yet (a fresh database)
            raise RuntimeError(f"GET {READ_PATH} answered {answer.status_code}: {answer.text[:200]}")
        due += READ_EVERY_SECONDS
        await asyncio.sleep(max(due - time.perf_counter(), 0.0))


async def _run_import(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    started = await client.post("/api/v1/imports", json={"source": "gcide"}, headers=admin)
    if started.status_code != 202:
        raise RuntimeError(f"the import was refused: {started.status_code} {started.text[:300]}")
    href = started.json()["href"]
    while True:
        job = (await client.get(href, headers=admin)).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return str(job["state"])
        await asyncio.sleep(JOB_POLL_SECONDS)


async def reads_during_imports(base_url: str, admin: dict[str, str], imports: int) -> Reads:
    """Start `imports` GCIDE imports together and read steadily until every one has ended."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=imports + 2)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60.0) as reader,
        httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as jobs,
    ):
        reading = asyncio.create_task(_read_steadily(reader, latencies))
        try:
            outcomes = await asyncio.gather(*(_run_import(jobs, admin) for _ in range(imports)))
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
    return Reads(latencies, list(outcomes))


async def table(base_url: str) -> list[tuple[str, Reads]]:
    """The two rows: reads during one import, then during four started together."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        admin = await sign_in(client, *ADMIN)
    return [
        ("one import", await reads_during_imports(base_url, admin, 1)),
        ("four imports started together", await reads_during_imports(base_url, admin, 4)),
    ]
