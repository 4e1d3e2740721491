"""Fault injection against real processes: an API server and a job worker on PostgreSQL and Redis, each its own
process, under a mixed load of reads and writes while Redis is killed and restarted and the database's connections
are terminated.

What must hold whatever fails: no 5xx for a write that happened, no acknowledged write lost, no job left unfinished.
The figures (what the clients were told) are printed; run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from conftest import run_live_server, run_worker
from fault_load import Client, Ledger, check, register, unfinished_jobs
from seed import SAMPLE_ENTRIES, seed_entries

from bench.services import (
    DEFAULT_POSTGRES_ADMIN_URL,
    POSTGRES_ADMIN_URL_ENV,
    RedisServer,
    ServiceUnavailable,
    empty_database,
    postgres_admin,
    private_redis,
    skip_or_fail,
)

USERS = 6
LOAD_SECONDS = 14.0
JOB_DEADLINE_SECONDS = 60.0


async def _terminate_connections(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    admin_url = os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
    await postgres_admin(
        admin_url,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )


async def _inject_faults(redis: RedisServer, database_url: str, started: float, log: list[str]) -> None:
    """Redis down for three seconds, database connections cut, Redis down again, connections cut again."""

    async def at(offset: float) -> None:
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))

    await at(2.0)
    redis.kill()
    log.append(f"{time.monotonic() - started:.1f}s Redis killed")
    await at(5.0)
    await asyncio.to_thread(redis.start)
    log.append(f"{time.monotonic() - started:.1f}s Redis restarted")
    await at(7.0)
    await _terminate_connections(database_url)
    log.append(f"{time.monotonic() - started:.1f}s database connections terminated")
    await at(9.0)
    redis.kill()
    log.append(f"{time.monotonic() - started:.1f}s Redis killed")
    await at(10.5)
    await asyncio.to_thread(redis.start)
    log.append(f"{time.monotonic() - started:.1f}s Redis restarted")
    await at(12.0)
    await _terminate_connections(database_url)
    log.append(f"{time.monotonic() - started:.1f}s database connections terminated")


def _server_errors(logs: Path) -> str:
    """The ERROR lines of the servers' logs with what follows each (tracebacks), for a failure's message."""
    found: list[str] = []
    for log in sorted(logs.glob("uvicorn-*.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        for at, line in enumerate(lines):
            if "ERROR" in line or "Traceback" in line:
                found.extend(lines[at : at + 40])
    return "\n".join(found[:200]) or "(no ERROR line in the server's log)"


async def _load_with_faults(base_url: str, redis: RedisServer, database_url: str, logs: Path) -> None:
    ledger = Ledger()
    log: list[str] = []
    limits = httpx.Limits(max_connections=USERS * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=20.0, limits=limits) as http:
        keys = [await register(http) for _ in range(USERS)]
        started = time.monotonic()
        clients = [Client(http, key, ledger, seed=n) for n, key in enumerate(keys)]
        await asyncio.gather(
            _inject_faults(redis, database_url, started, log),
            *(client.run_until(started + LOAD_SECONDS) for client in clients),
        )
        problems = await check(http, ledger, keys)
        stranded = await unfinished_jobs(http, ledger, JOB_DEADLINE_SECONDS)
    print("\nfaults:", "; ".join(log))
    print("outcomes:", ledger.summary())
    print("transport errors:", dict(ledger.transport_errors))
    print(f"jobs acknowledged: {len(ledger.jobs)}, unfinished after {JOB_DEADLINE_SECONDS:.0f} s: {len(stranded)}")
    assert not problems, "what the clients were told disagrees with what is stored:\n" + "\n".join(problems[:20])
    assert not stranded, f"acknowledged jobs that never finished: {stranded[:5]}"
    # A declared 503 (a dependency is unreachable, nothing was done) is an honest answer, and for writes it is
    # checked above that nothing happened; any other 5xx is a defect.
    defects = [error for error in ledger.server_errors if " 503 " not in error]
    assert not defects, (
        "5xx answers other than a declared 503:\n"
        + "\n".join(defects[:20])
        + "\nthe server said:\n"
        + _server_errors(logs)
    )
    assert ledger.statuses["create list 201"] > 0, ledger.summary()


def test_redis_outages_and_cut_database_connections_lose_nothing(tmp_path: Path) -> None:
    try:
        with empty_database("postgresql", tmp_path) as database_url, private_redis(tmp_path, persistent=True) as redis:
            asyncio.run(seed_entries(database_url, SAMPLE_ENTRIES))
            env = {
                "LEXICA_REDIS_URL": redis.url,
                "LEXICA_SECRET_KEY": "fault-injection-secret-key-long-enough-for-every-check",
                "LEXICA_RATE_LIMIT_AUTHENTICATED": "6000/minute",
                "LEXICA_JOB_FILES_DIR": str(tmp_path / "jobs"),
                "LEXICA_JOB_HEARTBEAT_SECONDS": "2",
                "LEXICA_LOG_LEVEL": "warning",
            }
            with (
                run_live_server(database_url, tmp_path, extra_env=env) as base_url,
                run_worker(database_url, tmp_path, extra_env=env),
            ):
                asyncio.run(_load_with_faults(base_url, redis, database_url, tmp_path))
    except ServiceUnavailable as unavailable:
        skip_or_fail(str(unavailable))
