"""Prometheus metrics of one instance, with prometheus-client, correct across worker processes.

- **One process**: the metrics live in a registry of this app (several apps in one process — tests — each have
  their own).
- **Several worker processes** (`lexica serve --workers N`): the supervisor sets `PROMETHEUS_MULTIPROC_DIR`
  before it starts the workers (`lexica.platform.server`); prometheus-client then keeps each worker's values in
  a file there, and a scrape, whichever worker answers it, sums the files of every worker.

Counts the app's parts keep as plain numbers (the entry cache's `CacheStats`, the request tallies, refusals, open
sockets: `MetricSources`) are not counted twice: a prometheus-client counter costs a lock per increment (an mmap
write too with several workers), and a cached lookup would pay it on every request. `InstanceMetrics.sync` copies
what changed into the metrics instead, when this process is scraped and once a second, so another worker's counts
in a scrape are at most a second old.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from lexica.jobs.job_tally import JOB_DURATION_BUCKETS, JobTally
from lexica.platform.cancellation import cancel_until_done
from lexica.platform.events import EVENT_LAG_BUCKETS, BusTally
from lexica.platform.observations import Observations
from lexica.platform.request_tally import DURATION_BUCKETS, RequestTally, Series

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SYNC_SECONDS = 1.0
logger = logging.getLogger("lexica.metrics")


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """What an in-process cache has counted since start-up."""

    hits: int
    misses: int
    reads: int  # storage reads: one per miss (concurrent misses of one key share one), and fresh reads
    entries: int  # held now


def multiprocess_dir() -> str | None:
    """The directory of every worker's metric files when this process is one of several workers."""
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


_Copied = tuple[int, float, list[int]]  # count, seconds in all, per bucket: what a mirror has copied so far


def _new_since(copied: dict[Any, _Copied], key: object, observations: Observations) -> _Copied | None:
    """What was observed under `key` since the last copy — (count, seconds, per bucket) — noting the copy; None when
    nothing was."""
    count, seconds, buckets = observations.count, observations.seconds, list(observations.buckets)
    before_count, before_seconds, before_buckets = copied.get(key, (0, 0.0, [0] * len(buckets)))
    if count == before_count:
        return None
    copied[key] = (count, seconds, buckets)
    added = [now - before for now, before in zip(buckets, before_buckets, strict=True)]
    return count - before_count, seconds - before_seconds, added


class _RequestMirror:
    """The request tallies (`lexica.platform.request_tally`) as the RED metrics."""

    def __init__(self, tally: RequestTally, owner: CollectorRegistry | None) -> None:
        self._tally = tally
        labels = ("method", "route", "status_class")
        self._requests = Counter(
            "lexica_http_requests", "HTTP requests answered, by method, route template and status class.", labels,
            registry=owner,
        )  # fmt: skip
        self._durations = Histogram(
            "lexica_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method, route template and status class.",
            labels,
            registry=owner,
            buckets=DURATION_BUCKETS,
        )
        self._in_flight = Gauge(
            "lexica_http_requests_in_flight",
            "Requests inside a route's handler now (their response, a stream too, not finished), summed over live "
            "worker processes.",
            ("method", "route"),
            registry=owner,
            multiprocess_mode="livesum",
        )
        self._copied: dict[Series, _Copied] = {}

    def sync(self) -> None:
        for series, tally in self._tally.tallies():
            new = _new_since(self._copied, series, tally)
            if new is None:
                continue
            labels = (series.method, series.route, series.status_class)
            self._requests.labels(*labels).inc(new[0])
            _add_observations(self._durations.labels(*labels), new[1], new[2])
        for (method, route), count in self._tally.in_flight().items():
            self._in_flight.labels(method, route).set(count)


class _JobMirror:
    """The job tally (`lexica.jobs.job_tally`) as jobs finished, their durations, and jobs running."""

    def __init__(self, tally: JobTally, owner: CollectorRegistry | None) -> None:
        self._tally = tally
        self._finished = Counter(
            "lexica_jobs_finished",
            "Jobs that ended in this process, by kind (import, export) and final state (succeeded, failed, cancelled; "
            "interrupted: the process stopped under it).",
            ("kind", "state"),
            registry=owner,
        )
        self._durations = Histogram(
            "lexica_job_duration_seconds",
            "How long each job ran in this process, by kind and final state.",
            ("kind", "state"),
            registry=owner,
            buckets=JOB_DURATION_BUCKETS,
        )
        self._running = Gauge(
            "lexica_jobs_running",
            "Jobs running now, by kind (summed over live worker processes).",
            ("kind",),
            registry=owner,
            multiprocess_mode="livesum",
        )
        self._copied: dict[tuple[str, str], _Copied] = {}

    def sync(self) -> None:
        for labels, ended in self._tally.ended_jobs():
            new = _new_since(self._copied, labels, ended)
            if new is None:
                continue
            self._finished.labels(*labels).inc(new[0])
            _add_observations(self._durations.labels(*labels), new[1], new[2])
        for kind, running in self._tally.running().items():
            self._running.labels(kind).set(running)


class _ObservationsMirror:
    """A histogram whose observations another object keeps (`lexica.platform.observations.Observations`)."""

    def __init__(self, histogram: Histogram, observations: Observations) -> None:
        self._histogram = histogram
        self._observations = observations
        self._copied: dict[None, _Copied] = {}

    def sync(self) -> None:
        if (new := _new_since(self._copied, None, self._observations)) is not None:
            _add_observations(self._histogram, new[1], new[2])


def _add_observations(histogram: Histogram, seconds: float, per_bucket: list[int]) -> None:
    """Add many observations at once: `per_bucket[i]` of them in bucket i, `seconds` in all.

    prometheus-client observes one value at a time (a lock each, an mmap write each with several workers); the
    tallies already hold the bucket counts. This writes them through the histogram's own value objects — the
    attributes `observe` itself uses (prometheus-client 0.23; tests/ops/test_metrics.py compares the outcome with
    `observe`'s, so a change of the library's internals fails there).
    """
    histogram._sum.inc(seconds)
    for bucket, added in zip(histogram._buckets, per_bucket, strict=True):
        if added:
            bucket.inc(added)


@dataclass(frozen=True)
class MetricSources:
    """Where each metric's value comes from: counts the app's parts keep as plain numbers, read at each sync.
    None: the deployment has no such part (no Redis, no connection pool)."""

    entry_cache: Callable[[], CacheCounts]
    requests: RequestTally
    rate_limit_refusals: Callable[[], Mapping[str, int]]  # by client kind; empty with rate limiting off
    throttled_logins: Callable[[], int]
    open_websockets: Callable[[], int]
    redis_failures: Callable[[], int] | None = None
    redis_circuit_open: Callable[[], bool] | None = None
    database_connections_in_use: Callable[[], int] | None = None
    event_bus: BusTally | None = None


class _CounterMirror:
    """A counter whose total since start-up another object keeps (per label values)."""

    def __init__(self, counter: Counter, read: Callable[[], Mapping[tuple[str, ...], int]]) -> None:
        self._counter = counter
        self._read = read
        self._copied: dict[tuple[str, ...], int] = {}

    def sync(self) -> None:
        for labels, total in self._read().items():
            before = self._copied.get(labels)
            if before == total:
                continue
            child = self._counter.labels(*labels) if labels else self._counter  # exposed from 0 on, once seen
            before = before or 0
            if total != before:
                child.inc(total - before if total > before else total)  # lower: the source started again
            self._copied[labels] = total


class _GaugeMirror:
    def __init__(self, gauge: Gauge, read: Callable[[], float]) -> None:
        self._gauge = gauge
        self._read = read

    def sync(self) -> None:
        self._gauge.set(self._read())


def _part_mirrors(
    sources: MetricSources, owner: CollectorRegistry | None
) -> list[_CounterMirror | _GaugeMirror | _ObservationsMirror]:
    cache = sources.entry_cache
    refusals = sources.rate_limit_refusals
    throttled = sources.throttled_logins
    mirrors: list[_CounterMirror | _GaugeMirror | _ObservationsMirror] = [
        _CounterMirror(
            Counter(
                "lexica_entry_cache_hits", "Entry lookups answered from the in-process entry cache.", registry=owner
            ),
            lambda: {(): cache().hits},
        ),
        _CounterMirror(
            Counter(
                "lexica_entry_cache_misses", "Entry lookups the in-process entry cache did not hold.", registry=owner
            ),
            lambda: {(): cache().misses},
        ),
        _CounterMirror(
            Counter(
                "lexica_entry_cache_reads",
                "Storage reads of entries by lookups: for misses (concurrent misses of one entry share one read) and "
                "for lookups that asked for a fresh copy (Cache-Control: no-cache).",
                registry=owner,
            ),
            lambda: {(): cache().reads},
        ),
        _GaugeMirror(
            Gauge(
                "lexica_entry_cache_entries",
                "Entries held in the in-process entry caches (summed over live worker processes).",
                registry=owner,
                multiprocess_mode="livesum",
            ),
            lambda: cache().entries,
        ),
        _CounterMirror(
            Counter(
                "lexica_rate_limit_rejections",
                "Requests refused 429 by the rate limiter, by client kind (anonymous, authenticated, login).",
                ("client_kind",),
                registry=owner,
            ),
            lambda: {(kind,): count for kind, count in refusals().items()},
        ),
        _CounterMirror(
            Counter("lexica_login_throttled", "Sign-ins refused 429 by the login throttle.", registry=owner),
            lambda: {(): throttled()},
        ),
        _GaugeMirror(
            Gauge(
                "lexica_websocket_connections",
                "WebSocket connections open (summed over live worker processes).",
                registry=owner,
                multiprocess_mode="livesum",
            ),
            sources.open_websockets,
        ),
    ]
    if (failures := sources.redis_failures) is not None:
        mirrors.append(
            _CounterMirror(
                Counter(
                    "lexica_redis_failures",
                    "Redis calls that failed (unreachable, timed out, or refused while the circuit is open).",
                    registry=owner,
                ),
                lambda: {(): failures()},
            )
        )
    if (circuit_open := sources.redis_circuit_open) is not None:
        mirrors.append(
            _GaugeMirror(
                Gauge(
                    "lexica_redis_circuit_open",
                    "1 while the Redis circuit breaker is open or half-open (calls fail fast), else 0; the highest "
                    "over live worker processes.",
                    registry=owner,
                    multiprocess_mode="livemax",
                ),
                lambda: float(circuit_open()),
            )
        )
    if (in_use := sources.database_connections_in_use) is not None:
        mirrors.append(
            _GaugeMirror(
                Gauge(
                    "lexica_database_connections_in_use",
                    "Connections of the database pool lent out now (summed over live worker processes).",
                    registry=owner,
                    multiprocess_mode="livesum",
                ),
                in_use,
            )
        )
    if (bus := sources.event_bus) is not None:
        mirrors += [
            _CounterMirror(
                Counter("lexica_events_published", "Events this process published on the event bus.", registry=owner),
                lambda: {(): bus.published},
            ),
            _GaugeMirror(
                Gauge(
                    "lexica_event_followers",
                    "Followers of the event bus now: event streams, WebSocket subscriptions and the entry cache's "
                    "change listener (summed over live worker processes).",
                    registry=owner,
                    multiprocess_mode="livesum",
                ),
                lambda: bus.followers,
            ),
            _ObservationsMirror(
                Histogram(
                    "lexica_event_delivery_lag_seconds",
                    "From an event's publication (on any instance or worker) to its delivery to a follower here; live "
                    "events only, not replayed history. With Redis, measured against Redis's clock.",
                    registry=owner,
                    buckets=EVENT_LAG_BUCKETS,
                ),
                bus.lag,
            ),
        ]
    return mirrors


class InstanceMetrics:
    """The metrics `GET /metrics` exposes for this instance (`sources`), with those of the jobs it runs (`jobs`); a
    `lexica worker` has only the latter."""

    def __init__(self, sources: MetricSources | None, *, jobs: JobTally | None = None) -> None:
        self.registry = CollectorRegistry()
        shared_dir = multiprocess_dir()
        # With several workers the values are in files, and one collector reads them all; the metric objects
        # must then stay out of the registry (they would be counted twice).
        owner = None if shared_dir else self.registry
        if shared_dir:
            MultiProcessCollector(self.registry, path=shared_dir)  # type: ignore[no-untyped-call]
        self._mirrors: list[_RequestMirror | _JobMirror | _CounterMirror | _GaugeMirror | _ObservationsMirror] = []
        if sources is not None:
            self._mirrors += [_RequestMirror(sources.requests, owner), *_part_mirrors(sources, owner)]
        if jobs is not None:
            self._mirrors.append(_JobMirror(jobs, owner))

    def sync(self) -> None:
        """Copy what was counted since the last call into the prometheus-client metrics."""
        for mirror in self._mirrors:
            mirror.sync()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (0.0.4), this process's counts up to date."""
        self.sync()
        return generate_latest(self.registry)

    @asynccontextmanager
    async def syncing(self, every: float = SYNC_SECONDS) -> AsyncIterator[None]:
        """Copy the counts once every `every` seconds while the context is open (and once more on exit)."""
        task = asyncio.get_running_loop().create_task(self._sync_forever(every))
        try:
            yield
        finally:
            await cancel_until_done(task)
            self.sync()

    async def _sync_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                self.sync()
            except Exception:  # a metric must never take the instance down; say so and keep going
                logger.exception("could not update the metrics")


@asynccontextmanager
async def served_on_port(metrics: InstanceMetrics, host: str, port: int | None) -> AsyncIterator[None]:
    """`metrics` served on `host:port` (any path) while the context is open, kept up to date once a second: for a
    `lexica worker`, which has no HTTP API of its own. Nothing when `port` is None."""
    if port is None:
        yield
        return
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)  # a daemon thread of the library's
    try:
        async with metrics.syncing():
            yield
    finally:
        server.shutdown()
        server.server_close()
