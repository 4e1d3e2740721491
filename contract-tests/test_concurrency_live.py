"""Concurrent writers on one entry and one word list over real HTTP: acknowledged writes kept, losers got 412."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_live_server, seed_database
from seed import letter_entries

from bench.concurrency import ADMIN, run


def test_no_acknowledged_write_is_lost(tmp_path_factory: pytest.TempPathFactory) -> None:
    database_url = seed_database(tmp_path_factory.mktemp("concurrency-db"), letter_entries("X"))
    settings = {
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("concurrency-uvicorn"), extra_env=settings) as base_url:
        outcome = asyncio.run(run(base_url, writers=8, writes=5))
    for tally in (outcome.entry, outcome.word_list):
        assert len(tally.acknowledged) == 40
        assert tally.rejected_412 > 0  # the writers really did collide
        assert tally.other == {}
