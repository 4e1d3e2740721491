"""Jobs must not stall the API in the embedded default: a real server (no Redis) runs four GCIDE imports started
together while a client reads an entry every 20 ms; the worst read must stay under half a second (before each job
ran in a worker process of its own, the worst was about 740 ms: the import's CPU work ran on the API's event loop).

The bound is loose on purpose (a shared, noisy machine); `make bench` prints the figures themselves.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import run_live_server, seed_database
from seed import letter_entries

from bench.job_stall import ADMIN, TABLE_HEAD, reads_during_imports, sign_in

WORST_READ_MS = 500.0


@pytest.mark.slow
def test_reads_stay_quick_while_four_imports_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    database_url = seed_database(tmp_path_factory.mktemp("stall-db"), letter_entries("A"))
    env = {
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "job-stall-live-secret-key-long-enough-for-every-check",
        "LEXICA_JOB_FILES_DIR": str(tmp_path_factory.mktemp("stall-job-files")),
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("stall-server"), extra_env=env) as base_url:

        async def scenario() -> tuple[list[str], str, float]:
            async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
                admin = await sign_in(client, *ADMIN)
                (await client.get("/api/v1/words/apple")).raise_for_status()  # cached from here on
            reads = await reads_during_imports(base_url, admin, 4)
            return reads.outcomes, reads.row("four imports started together"), reads.worst_ms

        outcomes, row, worst_ms = asyncio.run(scenario())

    assert outcomes == ["succeeded"] * 4, outcomes
    assert worst_ms <= WORST_READ_MS, f"a read waited {worst_ms:.0f} ms behind the imports:\n{TABLE_HEAD}\n{row}"
