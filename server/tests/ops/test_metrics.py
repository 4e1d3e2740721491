"""`GET /metrics`: Prometheus text with the entry cache's counters, never rate limited, summed over processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lexica.platform.metrics import MULTIPROCESS_DIR_VARIABLE, CacheCounts, InstanceMetrics
from tests.conftest import _client, make_settings

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CACHE_SAMPLES = (
    "lexica_entry_cache_hits_total",
    "lexica_entry_cache_misses_total",
    "lexica_entry_cache_reads_total",
    "lexica_entry_cache_entries",
)


def samples(text: str) -> dict[str, float]:
    """Every sample of the exposition by name (the metrics here have no labels); fails on text Prometheus would
    refuse."""
    return {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}


async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PROMETHEUS_TEXT
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    return samples(response.text)


@pytest.fixture(params=["fast paths on", "fast paths off"])
async def lookups(letter_a_database: str, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose cached lookups are answered by the fast path, or by the stack."""
    settings = make_settings(letter_a_database, fast_paths=request.param == "fast paths on")
    async for client in _client(settings):
        yield client


async def test_the_entry_cache_counts_a_miss_its_read_then_hits(lookups: httpx.AsyncClient) -> None:
    before = await scrape(lookups)
    assert set(CACHE_SAMPLES) <= set(before)

    for _ in range(3):
        assert (await lookups.get("/api/v1/words/abacus")).status_code == 200
    assert (await lookups.get("/api/v1/words/abacus", headers={"Cache-Control": "no-cache"})).status_code == 200
    assert (await lookups.get("/api/v1/words/no-such-headword-here")).status_code == 404
    after = await scrape(lookups)

    def grew(name: str) -> float:
        return after[name] - before[name]

    assert grew("lexica_entry_cache_hits_total") == 2
    # The first lookup and the missing headword; `no-cache` reads storage without asking the cache (a read,
    # neither a hit nor a miss).
    assert grew("lexica_entry_cache_misses_total") == 2
    assert grew("lexica_entry_cache_reads_total") == 3
    assert after["lexica_entry_cache_entries"] == before["lexica_entry_cache_entries"] + 1


async def test_metrics_are_never_rate_limited(letter_a_database: str) -> None:
    settings = make_settings(letter_a_database, rate_limit_enabled=True, rate_limit_anonymous="2/minute")
    async for client in _client(settings):
        statuses = [(await client.get("/api/v1/words/abacus")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        for _ in range(5):
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert "ratelimit" not in response.headers


async def test_metrics_refuse_a_client_that_accepts_no_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/json"})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    assert (await client.get("/metrics", headers={"Accept": prometheus})).status_code == 200


def test_a_count_that_went_down_was_reset_and_is_counted_from_zero() -> None:
    counts = CacheCounts(hits=5, misses=1, reads=1, entries=1)
    metrics = InstanceMetrics(lambda: counts)
    metrics.sync()
    counts = CacheCounts(hits=2, misses=1, reads=1, entries=1)  # rebuilt: two hits since
    found = samples(metrics.exposition().decode())
    assert found["lexica_entry_cache_hits_total"] == 7
    assert found["lexica_entry_cache_misses_total"] == 1


WORKER = textwrap.dedent(
    """
    import sys
    from lexica.platform.metrics import CacheCounts, InstanceMetrics
    hits, misses, entries = (int(value) for value in sys.argv[1:])
    InstanceMetrics(lambda: CacheCounts(hits=hits, misses=misses, reads=misses, entries=entries)).sync()
    """
)


def test_a_scrape_sums_every_worker_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes count into one directory (as `lexica serve --workers 2` makes them); a third sums them."""
    environment = {**os.environ, MULTIPROCESS_DIR_VARIABLE: str(tmp_path)}
    for arguments in (["40", "3", "10"], ["2", "5", "7"]):
        subprocess.run([sys.executable, "-c", WORKER, *arguments], env=environment, check=True, timeout=60)
    monkeypatch.setenv(MULTIPROCESS_DIR_VARIABLE, str(tmp_path))

    found = samples(InstanceMetrics(lambda: CacheCounts(hits=0, misses=0, reads=0, entries=0)).exposition().decode())

    assert found["lexica_entry_cache_hits_total"] == 42
    assert found["lexica_entry_cache_misses_total"] == 8
    assert found["lexica_entry_cache_reads_total"] == 8
    # A gauge of live workers: these two have exited, but nothing has marked them dead here.
    assert found["lexica_entry_cache_entries"] == 17
