"""`lexica serve --workers 2`: a scrape of `/metrics`, whichever worker answers it, sums both workers' counts."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from conftest import seed_database
from prometheus_client.parser import text_string_to_metric_families
from seed import SAMPLE_ENTRIES
from serve_process import run_lexica_serve

from lexica.platform.metrics import SYNC_SECONDS

LOOKUPS = 40


def _counts(metrics: str) -> tuple[float, float]:
    """Entry-cache lookups (hits plus misses) and entries held, in a scrape."""
    samples = [sample for family in text_string_to_metric_families(metrics) for sample in family.samples]
    lookups = sum(
        s.value for s in samples if s.name in ("lexica_entry_cache_hits_total", "lexica_entry_cache_misses_total")
    )
    held = sum(s.value for s in samples if s.name == "lexica_entry_cache_entries")
    return lookups, held


def test_a_scrape_sums_the_counts_of_every_worker(tmp_path: Path, private_redis_url: str) -> None:
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    headword = SAMPLE_ENTRIES[0].headword
    env = {
        "LEXICA_WORKERS": "2",
        "LEXICA_REDIS_URL": private_redis_url,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_ENTRY_CACHE_WARM_COUNT": "0",  # the cache holds only what the lookups below read
    }
    with run_lexica_serve(database_url, tmp_path, extra_env=env, ready_timeout=60) as served:
        for _ in range(LOOKUPS):
            # A fresh connection each time: the kernel hands each to either worker.
            with httpx.Client(base_url=served.base_url, timeout=10) as http:
                response = http.get(f"/api/v1/words/{headword}")
                assert response.status_code == 200
        time.sleep(SYNC_SECONDS + 1.0)  # each worker copies its counts once a second
        scrapes = []
        for _ in range(6):
            with httpx.Client(base_url=served.base_url, timeout=10) as http:
                response = http.get("/metrics")
                assert response.status_code == 200, response.text
                scrapes.append(_counts(response.text))
    # Both workers served the headword (each holds it in its cache), and every scrape counts every lookup.
    assert scrapes == [(LOOKUPS, 2)] * len(scrapes), served.log()
