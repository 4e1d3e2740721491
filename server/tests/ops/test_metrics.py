"""`GET /metrics`: Prometheus text with the entry cache's counters, never rate limited, summed over processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.types import Message, Receive, Scope, Send

from lexica.jobs.job_tally import JobTally
from lexica.platform.metrics import (
    MULTIPROCESS_DIR_VARIABLE,
    CacheCounts,
    InstanceMetrics,
    MetricSources,
    _add_observations,
)
from lexica.platform.request_tally import DURATION_BUCKETS, InFlight, RequestTally
from tests.conftest import _client, make_settings

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CACHE_SAMPLES = (
    "lexica_entry_cache_hits_total",
    "lexica_entry_cache_misses_total",
    "lexica_entry_cache_reads_total",
    "lexica_entry_cache_entries",
)


def samples(text: str) -> dict[str, float]:
    """Every sample of the exposition, by name and labels as Prometheus writes them (`name{a="1",b="2"}`, labels
    sorted); fails on text Prometheus would refuse."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{name}="{value}"' for name, value in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def only_the_cache(counts: Callable[[], CacheCounts]) -> MetricSources:
    """Sources where only the entry cache counts anything."""
    return MetricSources(
        entry_cache=counts,
        requests=RequestTally(),
        rate_limit_refusals=dict,
        throttled_logins=lambda: 0,
        open_websockets=lambda: 0,
    )


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
        found = samples(response.text)
        assert found['lexica_rate_limit_rejections_total{client_kind="anonymous"}'] == 1
        assert found['lexica_rate_limit_rejections_total{client_kind="authenticated"}'] == 0
        assert found["lexica_database_connections_in_use"] == 0  # the pool's, between requests
        assert "lexica_redis_circuit_open" not in found  # no Redis configured


async def test_metrics_refuse_a_client_that_accepts_no_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/json"})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    assert (await client.get("/metrics", headers={"Accept": prometheus})).status_code == 200


def test_a_count_that_went_down_was_reset_and_is_counted_from_zero() -> None:
    counts = CacheCounts(hits=5, misses=1, reads=1, entries=1)
    metrics = InstanceMetrics(only_the_cache(lambda: counts))
    metrics.sync()
    counts = CacheCounts(hits=2, misses=1, reads=1, entries=1)  # rebuilt: two hits since
    found = samples(metrics.exposition().decode())
    assert found["lexica_entry_cache_hits_total"] == 7
    assert found["lexica_entry_cache_misses_total"] == 1


WORKER = textwrap.dedent(
    """
    import sys
    from lexica.platform.metrics import CacheCounts, InstanceMetrics, MetricSources
    from lexica.platform.request_tally import RequestTally
    hits, misses, entries = (int(value) for value in sys.argv[1:])
    counts = CacheCounts(hits=hits, misses=misses, reads=misses, entries=entries)
    quiet = MetricSources(lambda: counts, RequestTally(), dict, lambda: 0, lambda: 0)
    InstanceMetrics(quiet).sync()
    """
)


def test_a_scrape_sums_every_worker_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes count into one directory (as `lexica serve --workers 2` makes them); a third sums them."""
    environment = {**os.environ, MULTIPROCESS_DIR_VARIABLE: str(tmp_path)}
    for arguments in (["40", "3", "10"], ["2", "5", "7"]):
        subprocess.run([sys.executable, "-c", WORKER, *arguments], env=environment, check=True, timeout=60)
    monkeypatch.setenv(MULTIPROCESS_DIR_VARIABLE, str(tmp_path))

    nothing = CacheCounts(hits=0, misses=0, reads=0, entries=0)
    found = samples(InstanceMetrics(only_the_cache(lambda: nothing)).exposition().decode())

    assert found["lexica_entry_cache_hits_total"] == 42
    assert found["lexica_entry_cache_misses_total"] == 8
    assert found["lexica_entry_cache_reads_total"] == 8
    # A gauge of live workers: these two have exited, but nothing has marked them dead here.
    assert found["lexica_entry_cache_entries"] == 17


def red(method: str, route: str, status_class: str) -> str:
    return f'lexica_http_requests_total{{method="{method}",route="{route}",status_class="{status_class}"}}'


def duration(method: str, route: str, status_class: str, suffix: str, bucket: str | None = None) -> str:
    le = f'le="{bucket}",' if bucket is not None else ""
    labels = f'{le}method="{method}",route="{route}",status_class="{status_class}"'
    return f"lexica_http_request_duration_seconds_{suffix}{{{labels}}}"


async def test_requests_are_counted_by_method_route_template_and_status_class(lookups: httpx.AsyncClient) -> None:
    entry = "/api/v1/words/{headword}"
    before = await scrape(lookups)
    assert (await lookups.get("/api/v1/words/abacus")).status_code == 200  # through the stack
    assert (await lookups.get("/api/v1/words/abacus")).status_code == 200  # the fast path when it is on
    assert (await lookups.get("/api/v1/words/abacus", headers={"Cache-Control": "no-cache"})).status_code == 200
    assert (await lookups.get("/api/v1/words/24%2F7-no-such")).status_code == 404
    assert (await lookups.get("/no/such/route/anywhere")).status_code == 404
    assert (await lookups.request("BREW", "/api/v1/words/abacus")).status_code == 405
    assert (await lookups.get("/api/v1/search", params={"q": "abac"})).status_code == 200
    assert (await lookups.get("/api/v1/search", params={"q": "abac"})).status_code == 200  # replayed when on
    after = await scrape(lookups)

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew(red("GET", entry, "2xx")) == 3
    assert grew(red("GET", entry, "4xx")) == 1
    assert grew(red("GET", "unmatched", "4xx")) == 1  # never the raw path
    assert grew(red("other", "unmatched", "4xx")) == 1  # the client does not choose label values
    assert grew(red("GET", "/api/v1/search", "2xx")) == 2
    assert grew(red("GET", "/metrics", "2xx")) == 1  # the first scrape, finished after it was taken
    assert not [name for name in after if "no/such" in name or "abacus" in name or "BREW" in name]
    # The histogram counts the same requests, every one in a bucket (the buckets are cumulative).
    assert grew(duration("GET", entry, "2xx", "count")) == 3
    assert grew(duration("GET", entry, "2xx", "bucket", "+Inf")) == 3
    assert 0 < grew(duration("GET", entry, "2xx", "sum")) < 3 * 5.0
    buckets = [value for name, value in after.items() if name.startswith(duration("GET", entry, "2xx", "bucket")[:45])]
    assert buckets == sorted(buckets)
    # The scrape being answered is in flight while the metrics are taken.
    assert after['lexica_http_requests_in_flight{method="GET",route="/metrics"}'] == 1


def test_observations_added_at_once_are_what_observing_them_one_by_one_gives() -> None:
    """`_add_observations` writes through prometheus-client's internals: the outcome must be `observe`'s."""
    observed_one_by_one = [0.0002, 0.0007, 0.003, 0.003, 0.2, 12.0]
    one_by_one_registry, at_once_registry = CollectorRegistry(), CollectorRegistry()
    one_by_one = Histogram("t", "t", registry=one_by_one_registry, buckets=DURATION_BUCKETS)
    at_once = Histogram("t", "t", registry=at_once_registry, buckets=DURATION_BUCKETS)
    for value in observed_one_by_one:
        one_by_one.observe(value)
    tally = RequestTally()
    for value in observed_one_by_one:
        tally.finished("GET", "/t", 200, value)
    [(_, counted)] = tally.tallies()
    _add_observations(at_once, counted.seconds, counted.buckets)

    def observations(registry: CollectorRegistry) -> dict[str, float]:
        return {
            name: value for name, value in samples(generate_latest(registry).decode()).items() if "created" not in name
        }

    assert observations(at_once_registry) == observations(one_by_one_registry)


async def test_a_request_is_in_flight_until_its_response_ends() -> None:
    tally = RequestTally()
    release = asyncio.Event()

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()

    wrapped = InFlight(streaming, tally, "/api/v1/jobs/{job_id}/events")
    task = asyncio.create_task(wrapped({"type": "http", "method": "GET"}, _no_receive, _no_send))
    await asyncio.sleep(0)
    assert tally.in_flight() == {("GET", "/api/v1/jobs/{job_id}/events"): 1}
    release.set()
    await task
    assert tally.in_flight() == {("GET", "/api/v1/jobs/{job_id}/events"): 0}


async def _no_receive() -> Message:
    raise AssertionError("not read")


async def _no_send(message: Message) -> None:
    raise AssertionError("not sent")


async def test_redis_failures_and_the_open_circuit_are_exposed(letter_a_database: str) -> None:
    """Redis configured but unreachable (nothing listens on port 1): the app serves, and says so in its metrics."""
    settings = make_settings(
        letter_a_database,
        redis_url="redis://127.0.0.1:1/0",
        rate_limit_enabled=True,
        redis_connect_timeout_seconds=0.2,
        redis_breaker_failures=2,
        redis_breaker_reset_seconds=60,
    )
    async for client in _client(settings):
        for _ in range(4):
            assert (await client.get("/api/v1/words/abacus")).status_code == 200  # limits counted in process
        found = await scrape(client)
        assert found["lexica_redis_failures_total"] >= 2
        assert found["lexica_redis_circuit_open"] == 1


def test_jobs_are_counted_by_kind_and_final_state_with_their_durations() -> None:
    tally = JobTally()
    metrics = InstanceMetrics(None, jobs=tally)
    tally.started("import")
    tally.started("export")
    running = samples(metrics.exposition().decode())
    assert running['lexica_jobs_running{kind="import"}'] == 1
    tally.ended("import", "succeeded", 3.0)
    tally.ended("export", "failed", 0.2)
    tally.started("import")
    tally.ended("import", "succeeded", 40.0)

    found = samples(metrics.exposition().decode())
    assert found['lexica_jobs_finished_total{kind="import",state="succeeded"}'] == 2
    assert found['lexica_jobs_finished_total{kind="export",state="failed"}'] == 1
    assert found['lexica_job_duration_seconds_count{kind="import",state="succeeded"}'] == 2
    assert found['lexica_job_duration_seconds_sum{kind="import",state="succeeded"}'] == 43.0
    assert found['lexica_job_duration_seconds_bucket{kind="import",le="5.0",state="succeeded"}'] == 1
    assert found['lexica_job_duration_seconds_bucket{kind="import",le="60.0",state="succeeded"}'] == 2
    assert found['lexica_jobs_running{kind="import"}'] == 0
    assert found['lexica_jobs_running{kind="export"}'] == 0
    assert not any(name.startswith("lexica_http_") for name in found)  # a worker has jobs only


async def test_a_job_run_by_the_in_process_worker_is_counted_on_the_instance(
    letter_a_database: str, tmp_path: Path
) -> None:
    admin = ("metrics-admin@lexica.test", "Quiet-Harbour-58-Lantern")
    settings = make_settings(
        letter_a_database,
        first_admin_email=admin[0],
        first_admin_password=SecretStr(admin[1]),
        job_files_dir=tmp_path / "jobs",
        metrics_access="public",
    )
    async for client in _client(settings):
        form = {"grant_type": "password", "username": admin[0], "password": admin[1]}
        token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = {"source": "dictionary"}
        job = (await client.post("/api/v1/exports", json=body, headers=auth)).json()
        async with asyncio.timeout(30):
            found = await scrape(client)
            while found.get('lexica_jobs_finished_total{kind="export",state="succeeded"}') != 1:
                await asyncio.sleep(0.02)  # the export runs in the background
                found = await scrape(client)
        assert (await client.get(job["href"], headers=auth)).json()["state"] == "succeeded"
    assert found['lexica_job_duration_seconds_count{kind="export",state="succeeded"}'] == 1
    assert found['lexica_jobs_running{kind="export"}'] == 0


async def test_the_event_bus_shows_its_followers_and_published_events(client: httpx.AsyncClient) -> None:
    found = await scrape(client)
    assert found["lexica_event_followers"] >= 1  # the entry cache's change listener follows `entries`
    assert found["lexica_events_published_total"] >= 0
    assert "lexica_event_delivery_lag_seconds_count" in found
