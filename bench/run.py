"""One `make bench` run: each server started in turn, measured with wrk, stopped; the rows and facts it yields."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from sqlalchemy.exc import DBAPIError

from bench import coherence, job_stall, meaning_eval
from bench.reference.entry import BODY as REFERENCE_BODY
from bench.report import Report, Row
from bench.scenarios import (
    BASELINE,
    CACHED_LOOKUP,
    COHERENCE_NAME,
    CONDITIONAL_LOOKUP,
    GRANIAN_LOOKUP,
    JOB_STALL_NAME,
    LEXICA_READY_PATH,
    LEXICA_SCENARIOS,
    QUIET_LOOKUP,
    REFERENCES,
    REVERSE_LOOKUP_NAME,
    UNCACHED_LOOKUP,
    WHOLE_BOX,
    ZIPF_LOOKUP,
    Reference,
    Scenario,
)
from bench.servers import HOST, Served, pinned, rss_mib, serve, spawned_workers
from bench.services import (
    DEFAULT_POSTGRES_ADMIN_URL,
    POSTGRES_ADMIN_URL_ENV,
    ServiceUnavailable,
    create_postgres_database,
    free_port,
    fresh_name,
    postgres_admin,
    postgres_database_url,
    private_redis,
    shown,
)
from bench.services import stop as stop_process
from bench.wrk import WrkResult, run_wrk
from lexica.settings import Settings

CONNECTIONS = 64
SQLITE_PREFIX = "sqlite+aiosqlite:///"
WHOLE_BOX_CONNECTIONS = 128
REFERENCE_START_SECONDS = 60
LEXICA_START_SECONDS = 180  # the search index over every headword is built at start-up
LEXICA_COMMAND = [sys.executable, "-m", "lexica.cli", "serve", "--no-load-dictionary"]
# The hit ratio is the server's own, from these counters (Prometheus text) when it exposes them; else N/A.
METRICS_PATH = "/metrics"
CACHE_HITS, CACHE_MISSES = "lexica_entry_cache_hits_total", "lexica_entry_cache_misses_total"
# Warm-up lookups per entry the cache holds before its hit ratio is read: the cache has filled and turned over.
STEADY_LOOKUPS_PER_SLOT = 5
MAX_WARM_UP_ROUNDS = 12
DEFAULT_CACHE_SIZE: int = Settings.model_fields["entry_cache_size"].default
_SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{.*\})?\s+(\S+)")


@dataclass(frozen=True)
class Load:
    seconds: int
    warm_up_seconds: int
    server_cpu: int | None  # every single-worker server runs on this CPU only
    load_cpu: int | None  # and wrk on this one


def cache_counts(metrics: str) -> tuple[float, float] | None:
    """Entry-cache hits and misses in Prometheus text (each summed over its labels), or None without both."""
    totals: dict[str, float] = {}
    for line in metrics.splitlines():
        if (sample := _SAMPLE.match(line)) and sample[1] in (CACHE_HITS, CACHE_MISSES):
            totals[sample[1]] = totals.get(sample[1], 0.0) + float(sample[2])
    if len(totals) != 2:
        return None
    return totals[CACHE_HITS], totals[CACHE_MISSES]


def entry_cache_counts(base_url: str) -> tuple[float, float] | None:
    """The server's entry-cache hits and misses so far, or None when it does not expose them."""
    try:
        response = httpx.get(base_url + METRICS_PATH, timeout=5.0)
    except httpx.TransportError:
        return None
    return cache_counts(response.text) if response.status_code == 200 else None


class Bench:
    def __init__(
        self,
        load: Load,
        *,
        selected: Callable[[str], bool],
        env: Mapping[str, str],
        workdir: Path,
        headword_paths: Path,
        headword_count: int,
    ) -> None:
        self.report = Report()
        self._load = load
        self._selected = selected
        self._env = dict(env)
        self._workdir = workdir
        self._headword_paths = headword_paths
        self._headword_count = headword_count
        self._baseline: WrkResult | None = None
        self._seeds = itertools.count()  # each wrk run draws its own sequence of paths

    def run(self) -> Report:
        self._references()
        if any(self._selected(scenario.name) for scenario in [*LEXICA_SCENARIOS, ZIPF_LOOKUP]):
            self._lexica()
        if self._selected(UNCACHED_LOOKUP.name):
            self._uncached()
        if self._selected(QUIET_LOOKUP.name):
            self._quiet()
        if self._selected(GRANIAN_LOOKUP.name):
            self._on_granian()
        if self._selected(WHOLE_BOX.name):
            self._whole_box()
        if self._selected(COHERENCE_NAME):
            self._coherence()
        if self._selected(JOB_STALL_NAME):
            self._job_stall()
        if self._selected(REVERSE_LOOKUP_NAME):
            self._reverse_lookup()
        if len(self.report.rows) > 1:
            self._baseline_again()
        return self.report

    def _measure(
        self,
        served: Served,
        scenario: Scenario,
        *,
        connections: int = CONNECTIONS,
        threads: int = 1,
        pin: bool = True,
    ) -> WrkResult:
        """A check that the scenario answers as expected, a warm-up run, then the measured run."""
        self._check(served, scenario)
        self._wrk(served, scenario, self._load.warm_up_seconds, connections, threads, pin)
        return self._wrk(served, scenario, self._load.seconds, connections, threads, pin)

    def _check(self, served: Served, scenario: Scenario) -> None:
        print(f"measuring {scenario.name} ...", file=sys.stderr, flush=True)
        response = httpx.get(served.base_url + scenario.path, headers=scenario.headers, timeout=30.0)
        if response.status_code != scenario.status:
            raise RuntimeError(
                f"{scenario.name}: {scenario.path} answered {response.status_code}, not {scenario.status}"
            )

    def _wrk(
        self, served: Served, scenario: Scenario, seconds: int, connections: int, threads: int, pin: bool
    ) -> WrkResult:
        return run_wrk(
            served.base_url + scenario.path,
            seconds=seconds,
            connections=connections,
            threads=threads,
            cpu=self._load.load_cpu if pin else None,
            headers=scenario.headers,
            paths=self._headword_paths if scenario.rotation else None,
            rotation=scenario.rotation or "cycle",
            seed=next(self._seeds),
        )

    def _add(self, name: str, result: WrkResult, *, compare: bool = True) -> None:
        ratio = result.rps / self._baseline.rps if compare and self._baseline and self._baseline.rps else None
        self.report.rows.append(Row(name, result, ratio))

    def _serve(
        self, command: list[str], port: int, ready_path: str, env: Mapping[str, str], start_seconds: float, pin: bool
    ) -> AbstractContextManager[Served]:
        return serve(
            pinned(command, self._load.server_cpu if pin else None),
            port=port,
            ready_path=ready_path,
            env=env,
            log_path=self._workdir / f"server-{port}.log",
            start_seconds=start_seconds,
        )

    def _serve_lexica(self, port: int, *, pin: bool = True, **settings: str) -> AbstractContextManager[Served]:
        """`lexica serve` with the bench's environment, one worker unless `settings` say otherwise."""
        env = {**self._env, "LEXICA_HOST": HOST, "LEXICA_PORT": str(port), "LEXICA_WORKERS": "1", **settings}
        return self._serve(LEXICA_COMMAND, port, LEXICA_READY_PATH, env, LEXICA_START_SECONDS, pin)

    def _references(self) -> None:
        for reference in [BASELINE, *REFERENCES]:
            if reference is BASELINE or self._selected(reference.name):
                result = self._reference(reference)
                if reference is BASELINE:
                    self._baseline = result
                self._add(reference.name, result)

    def _reference(self, reference: Reference) -> WrkResult:
        port = free_port()
        scenario = Scenario(reference.name, CACHED_LOOKUP.path)
        command = reference.command(port)
        with self._serve(command, port, scenario.path, self._env, REFERENCE_START_SECONDS, True) as served:
            return self._measure(served, scenario)

    def _baseline_again(self) -> None:
        """The baseline measured once more at the end: how far it moved says how steady the machine was."""
        assert self._baseline is not None
        drift = self._reference(BASELINE).rps / self._baseline.rps - 1
        self.report.facts.append(
            f"baseline again at the end: {drift:+.0%} req/s from the first row "
            "(a large move means the machine was not steady: compare rows with care)"
        )

    def _lexica(self) -> None:
        """One worker with the default settings: the scenarios of LEXICA_SCENARIOS, then Zipf, then its memory."""
        port = free_port()
        with self._serve_lexica(port) as served:
            apple = httpx.get(served.base_url + CACHED_LOOKUP.path, timeout=30.0)
            if apple.content != REFERENCE_BODY:
                self.report.notes.append(
                    "Lexica's entry for apple is not bench/reference/apple.json byte for byte: the reference apps "
                    "serve another body (store Lexica's current one there)"
                )
            for scenario in LEXICA_SCENARIOS:
                if not self._selected(scenario.name):
                    continue
                if scenario is CONDITIONAL_LOOKUP:
                    scenario = replace(scenario, headers={"If-None-Match": apple.headers["etag"]})
                self._add(scenario.name, self._measure(served, scenario))
            if self._selected(ZIPF_LOOKUP.name):
                self._zipf(served)
            self.report.facts.append(
                f"RSS of the one worker after its scenarios (search index loaded): {rss_mib(served.pid):.0f} MiB"
            )

    def _zipf(self, served: Served) -> None:
        self._check(served, ZIPF_LOOKUP)
        what = f"entry cache hit ratio, Zipf(s=1) over {self._headword_count:,} headwords, default cache size"
        # The ratio of a cache that has not filled yet says how many keys the run repeated, not how the cache does:
        # warm up until the cache has seen STEADY_LOOKUPS_PER_SLOT lookups per entry it can hold.
        wanted = STEADY_LOOKUPS_PER_SLOT * DEFAULT_CACHE_SIZE
        start = entry_cache_counts(served.base_url)
        warmed = 0.0
        for _ in range(MAX_WARM_UP_ROUNDS):
            self._wrk(served, ZIPF_LOOKUP, self._load.seconds, CONNECTIONS, 1, True)
            now = entry_cache_counts(served.base_url)
            if start is None or now is None:
                break
            warmed = sum(now) - sum(start)
            if warmed >= wanted:
                break
        before = entry_cache_counts(served.base_url)
        result = self._wrk(served, ZIPF_LOOKUP, self._load.seconds, CONNECTIONS, 1, True)
        after = entry_cache_counts(served.base_url)
        self._add(ZIPF_LOOKUP.name, result)
        if before is None or after is None:
            self.report.facts.append(f"{what}: N/A")
            self.report.notes.append(
                f"the server exposes no entry-cache statistics ({CACHE_HITS} and {CACHE_MISSES} at "
                f"{METRICS_PATH}), so the hit ratio is not reported"
            )
            return
        hits, misses = after[0] - before[0], after[1] - before[1]
        ratio = f"{hits / (hits + misses):.1%}" if hits + misses else "N/A (no lookups counted)"
        steady = (
            f"after {warmed:,.0f} warm-up lookups, {warmed / DEFAULT_CACHE_SIZE:.1f} per cache slot: steady"
            if warmed >= wanted
            else f"after only {warmed:,.0f} warm-up lookups: the cache was still filling, so the ratio is optimistic"
        )
        self.report.facts.append(
            f"{what} ({DEFAULT_CACHE_SIZE:,} entries): {ratio} ({hits + misses:,.0f} lookups, the server's "
            f"counters, {steady})"
        )

    def _uncached(self) -> None:
        port = free_port()
        with self._serve_lexica(port, LEXICA_ENTRY_CACHE_SIZE="0") as served:
            self._add(UNCACHED_LOOKUP.name, self._measure(served, UNCACHED_LOOKUP))
        self.report.notes.append(
            f"uncached lookup: an instance with LEXICA_ENTRY_CACHE_SIZE=0; each request asks for the next of all "
            f"{self._headword_count:,} headwords (shuffled once), so every one is a storage read"
        )

    def _quiet(self) -> None:
        port = free_port()
        with self._serve_lexica(port, LEXICA_LOG_LEVEL="warning") as served:
            self._add(QUIET_LOOKUP.name, self._measure(served, QUIET_LOOKUP))

    def _on_granian(self) -> None:
        """The app `lexica serve` runs, on granian: without `lexica serve`'s own protocol (head timeouts, the
        connection cap, the drain) and with granian's access log off, so compare with care."""
        port = free_port()
        command = Reference(GRANIAN_LOOKUP.name, "lexica.app:create_app", server="granian").command(port)
        command.insert(command.index("--interface"), "--factory")
        env = {**self._env, "LEXICA_WORKERS": "1"}
        with self._serve(command, port, LEXICA_READY_PATH, env, LEXICA_START_SECONDS, True) as served:
            self._add(GRANIAN_LOOKUP.name, self._measure(served, GRANIAN_LOOKUP))
        self.report.notes.append(
            "Lexica on granian: the same app without `lexica serve`'s slow-client protections; its log lines go "
            "nowhere (no handler is configured), where `lexica serve` writes an access line per request"
        )

    def _coherence(self) -> None:
        """Two instances over a copy of the database and a private Redis: the edit-to-served delay."""
        source = Settings().database_url
        if not source.startswith(SQLITE_PREFIX):
            self.report.notes.append("coherence delay not measured: it copies the bench's SQLite database")
            return
        copy = self._workdir / "coherence.sqlite3"
        # The edits must not touch the real database; SQLite's backup API copies it whole, journal included.
        with closing(sqlite3.connect(source.removeprefix(SQLITE_PREFIX))) as real, closing(sqlite3.connect(copy)) as to:
            real.backup(to)
        first, second = free_port(), free_port()
        settings = {
            "LEXICA_DATABASE_URL": SQLITE_PREFIX + str(copy),
            "LEXICA_RATE_LIMIT_ENABLED": "false",
            "LEXICA_FIRST_ADMIN_EMAIL": coherence.ADMIN[0],
            "LEXICA_FIRST_ADMIN_PASSWORD": coherence.ADMIN[1],
            "LEXICA_ENTRY_CACHE_WARM_COUNT": "0",
        }
        print(f"measuring {COHERENCE_NAME} ...", file=sys.stderr, flush=True)
        try:
            with (
                private_redis(self._workdir) as redis,
                self._serve_lexica(first, pin=False, LEXICA_REDIS_URL=redis.url, **settings) as a,
                self._serve_lexica(second, pin=False, LEXICA_REDIS_URL=redis.url, **settings) as b,
            ):
                self.report.facts.append(coherence.measure(a.base_url, b.base_url).line())
        except ServiceUnavailable as unavailable:
            self.report.notes.append(f"coherence delay not measured: it needs Redis ({unavailable})")

    def _job_stall(self) -> None:
        """Reads every 20 ms during one GCIDE import, then four started together, on a fresh SQLite database: with
        the embedded default (a worker process per job), then with Redis and one `lexica worker`."""
        print(f"measuring {JOB_STALL_NAME} ...", file=sys.stderr, flush=True)
        tables = ["reads of a cached entry every 20 ms while GCIDE imports run (fresh SQLite database):"]
        for mode in ("embedded", "redis"):
            database = self._workdir / f"job-stall-{mode}.sqlite3"
            settings = {
                "LEXICA_DATABASE_URL": SQLITE_PREFIX + str(database),
                "LEXICA_RATE_LIMIT_ENABLED": "false",
                "LEXICA_FIRST_ADMIN_EMAIL": job_stall.ADMIN[0],
                "LEXICA_FIRST_ADMIN_PASSWORD": job_stall.ADMIN[1],
                "LEXICA_ENTRY_CACHE_WARM_COUNT": "0",
                "LEXICA_JOB_FILES_DIR": str(self._workdir / f"job-stall-{mode}-files"),
            }
            port = free_port()
            env = {**self._env, "LEXICA_HOST": HOST, "LEXICA_PORT": str(port), "LEXICA_WORKERS": "1", **settings}
            try:
                with contextlib.ExitStack() as running:
                    if mode == "redis":
                        env["LEXICA_REDIS_URL"] = running.enter_context(private_redis(self._workdir)).url
                    # An empty dictionary is not ready (/health/ready): wait for the process to be live instead.
                    served = running.enter_context(
                        self._serve(LEXICA_COMMAND, port, "/health/live", env, LEXICA_START_SECONDS, False)
                    )
                    if mode == "redis":  # after the API, which has created the database's schema
                        running.enter_context(self._worker(env))
                    rows = asyncio.run(job_stall.table(served.base_url))
            except ServiceUnavailable as unavailable:
                self.report.notes.append(f"reads during imports not measured in the {mode} mode ({unavailable})")
                continue
            tables += ["", f"{mode} mode:", job_stall.TABLE_HEAD, *(reads.row(label) for label, reads in rows)]
            failed = [reads.outcomes for _, reads in rows if set(reads.outcomes) != {"succeeded"}]
            if failed:
                self.report.notes.append(f"imports that did not succeed in the {mode} mode: {failed}")
        self.report.facts.append("\n".join(tables))

    def _reverse_lookup(self) -> None:
        """Recall@10 and latency of reverse lookup over all of GCIDE: the bench's SQLite database, then a fresh
        PostgreSQL database that `lexica import gcide` fills."""
        print(f"measuring {REVERSE_LOOKUP_NAME} ...", file=sys.stderr, flush=True)
        sqlite = Settings().database_url
        self.report.facts.extend(asyncio.run(meaning_eval.measure(sqlite)).lines("SQLite"))
        admin_url = os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
        name = fresh_name()
        try:
            asyncio.run(create_postgres_database(admin_url, name))
        except (OSError, DBAPIError) as exc:
            self.report.notes.append(f"reverse lookup not measured on PostgreSQL: none at {shown(admin_url)} ({exc})")
            return
        url = postgres_database_url(admin_url, name)
        try:
            env = {**self._env, "LEXICA_DATABASE_URL": url}
            command = [sys.executable, "-m", "lexica.cli", "import", "gcide"]
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - our own command
            self.report.facts.extend(asyncio.run(meaning_eval.measure(url)).lines("PostgreSQL"))
        finally:
            asyncio.run(postgres_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    @contextlib.contextmanager
    def _worker(self, env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
        """`lexica worker`, its log in the bench's directory, stopped (SIGTERM) when the block ends."""
        with (self._workdir / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "lexica.cli", "worker"], env=dict(env), stdout=log, stderr=subprocess.STDOUT
            )
        try:
            yield worker
        finally:
            stop_process(worker)

    def _whole_box(self) -> None:
        port = free_port()
        try:
            with (
                private_redis(self._workdir) as redis,
                self._serve_lexica(port, pin=False, LEXICA_WORKERS="2", LEXICA_REDIS_URL=redis.url) as served,
            ):
                result = self._measure(served, WHOLE_BOX, connections=WHOLE_BOX_CONNECTIONS, threads=2, pin=False)
                workers = [f"{rss_mib(pid):.0f}" for pid in spawned_workers(served.pid)]
        except ServiceUnavailable as unavailable:
            self.report.notes.append(f"whole box not measured: more than one worker needs Redis ({unavailable})")
            return
        self._add(WHOLE_BOX.name, result, compare=False)
        self.report.facts.append(f"RSS per worker, whole box: {', '.join(workers)} MiB")
        self.report.notes.append(
            "whole box: `lexica serve` with LEXICA_WORKERS=2 and a private redis-server (rate limits counted in "
            "Redis), wrk -t2 -c128, nothing pinned; no ratio: the baseline is one pinned worker"
        )
