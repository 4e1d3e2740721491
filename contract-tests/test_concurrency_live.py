"""Concurrent writers on one entry and one word list over real HTTP, on each storage backend: every acknowledged
write is kept and every rejected one got 412 (`make concurrency` runs the same at a larger scale)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from conftest import run_live_server

from bench.concurrency import ADMIN, FRESH, HEADWORD, run, seed_letters
from bench.services import BACKENDS, ServiceUnavailable, empty_database, skip_or_fail


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_acknowledged_write_is_lost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = {
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
    }
    with contextlib.ExitStack() as stack:
        try:
            database_url = stack.enter_context(empty_database(backend, tmp_path_factory.mktemp(f"db-{backend}")))
        except ServiceUnavailable as exc:
            skip_or_fail(str(exc))
        asyncio.run(seed_letters(database_url, "X"))
        workdir = tmp_path_factory.mktemp(f"concurrency-uvicorn-{backend}")
        with run_live_server(database_url, workdir, extra_env=settings) as base_url:
            outcome = asyncio.run(run(base_url, writers=8, writes=5))
            # One instance: its cache must not keep a version that a concurrent read fetched just before a write.
            cached = httpx.get(f"{base_url}/api/v1/words/{HEADWORD}").json()["version"]
            fresh = httpx.get(f"{base_url}/api/v1/words/{HEADWORD}", headers=FRESH).json()["version"]
            assert cached == fresh == 1 + len(outcome.entry.acknowledged)
    for tally in (outcome.entry, outcome.word_list):
        assert len(tally.acknowledged) == 40
        assert tally.rejected_412 > 0  # the writers really did collide
        assert tally.other == {}
