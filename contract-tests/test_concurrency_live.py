"""Concurrent writers on one entry and one word list over real HTTP: acknowledged writes kept, losers got 412."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import run_live_server, seed_database
from seed import letter_entries

from bench.concurrency import ADMIN, FRESH, HEADWORD, run


def test_no_acknowledged_write_is_lost(tmp_path_factory: pytest.TempPathFactory) -> None:
    database_url = seed_database(tmp_path_factory.mktemp("concurrency-db"), letter_entries("X"))
    settings = {
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("concurrency-uvicorn"), extra_env=settings) as base_url:
        outcome = asyncio.run(run(base_url, writers=8, writes=5))
        # One instance: its cache must not keep a version that a concurrent read fetched just before a write.
        cached = httpx.get(f"{base_url}/api/v1/words/{HEADWORD}").json()["version"]
        fresh = httpx.get(f"{base_url}/api/v1/words/{HEADWORD}", headers=FRESH).json()["version"]
        assert cached == fresh == 1 + len(outcome.entry.acknowledged)
    for tally in (outcome.entry, outcome.word_list):
        assert len(tally.acknowledged) == 40
        assert tally.rejected_412 > 0  # the writers really did collide
        assert tally.other == {}
