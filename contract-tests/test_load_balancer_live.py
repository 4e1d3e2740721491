"""Scale-out behind a real load balancer: HAProxy (deploy/haproxy/haproxy.cfg) in front of three `lexica serve`
instances on loopback, with PostgreSQL, a private Redis and two `lexica worker`s, under a steady load of reads,
writes, imports, SSE followers and WebSocket followers — while

(a) the instances are restarted one after another (SIGTERM: drain, stop, start again): not one request may fail,
    and every job event reaches both the SSE and the WebSocket follower of its job (each reconnects on its own,
    through the balancer, to an instance that is up);
(b) one instance is killed with SIGKILL: only the requests in flight on it may fail, and each of them succeeds
    when the client sends it again (a write with the same Idempotency-Key, so that it cannot apply twice).

Run with `-s` to see the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from balancer import Balancer, haproxy_binary, run_haproxy
from conftest import run_worker
from fault_load import WORDS, register
from prometheus_client.parser import text_string_to_metric_families
from seed import SAMPLE_ENTRIES, seed_entries
from serve_process import Served, free_port, run_lexica_serve

from bench.services import ServiceUnavailable, empty_database, private_redis, skip_or_fail
from lexica_client import AsyncLexica
from lexica_client.events import JobFinished, JobProgress
from lexica_client.realtime import Realtime

INSTANCES = 3
ADMIN = ("balancer-admin@lexica.test", "Quiet-Harbour-58-Lantern")
DRAIN_SECONDS = 3.0  # several of HAProxy's readiness checks (every 0.5 s): it stops sending before the stop
GRACE_SECONDS = 3
ENTRIES_PER_IMPORT = 3000
READERS = 4
WRITERS = 2
FOLLOWERS = 2
NOTICE_SECONDS = 0.25
RETRY_SECONDS = 20.0  # several leases of an Idempotency-Key claim (LEXICA_IDEMPOTENCY_LEASE_SECONDS below)


@dataclass
class Outcomes:
    """What the clients saw, per phase: every answer by kind and status, and every failure with when it began."""

    phase: str = "warm-up"
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, float, float]] = field(default_factory=list)  # (phase, what, began, ended)
    jobs: list[tuple[str, int, int, int]] = field(default_factory=list)  # (phase, kept, seen over SSE, over WS)
    missed: list[str] = field(default_factory=list)

    def answered(self, kind: str, status: int, expected: int, began: float) -> bool:
        self.answers[f"{self.phase}: {kind} {status}"] += 1
        if status != expected:
            self.failures.append((self.phase, f"{kind} {status}", began, time.monotonic()))
        return status == expected

    def failed(self, kind: str, error: Exception, began: float) -> None:
        self.answers[f"{self.phase}: {kind} {type(error).__name__}"] += 1
        self.failures.append((self.phase, f"{kind} {type(error).__name__}", began, time.monotonic()))

    def in_phase(self, phase: str) -> list[tuple[str, str, float, float]]:
        return [failure for failure in self.failures if failure[0] == phase]


class Load:
    """Readers, writers and job followers through the balancer until `stop` is set."""

    def __init__(self, base_url: str, outcomes: Outcomes, keys: list[str], admin_key: str) -> None:
        self.base_url = base_url
        self.outcomes = outcomes
        self.keys = keys
        self.admin_key = admin_key
        self.stop = asyncio.Event()
        self.retried: Counter[str] = Counter()  # requests that failed on a killed instance, sent again: status

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=READERS + WRITERS + 2)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=20.0, limits=limits) as http:
            await asyncio.gather(
                *(self._reader(http, n) for n in range(READERS)),
                *(self._writer(http, key, n) for n, key in enumerate(self.keys)),
                *(self._follower(n) for n in range(FOLLOWERS)),
            )

    async def _again(self, http: httpx.AsyncClient, request: httpx.Request, expected: int) -> None:
        """(b) A request that failed while its instance was killed, sent again as a client would: after the delay
        a 409 (its Idempotency-Key still held by the killed instance, until the claim's lease lapses), 429 or 503
        asks for in `Retry-After`, for up to RETRY_SECONDS."""
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                response = await http.send(request)
            except httpx.TransportError as error:
                if time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    continue
                self.retried[f"{request.method} {type(error).__name__}"] += 1
                self.outcomes.missed.append(f"retried {request.method} {request.url.path}: {error!r}")
                return
            wait = response.headers.get("retry-after")
            if response.status_code in (409, 429, 503) and wait is not None and time.monotonic() < deadline:
                self.retried[f"{request.method} {response.status_code}, then again"] += 1
                await asyncio.sleep(float(wait))
                continue
            self.retried[f"{request.method} {response.status_code}"] += 1
            if response.status_code != expected:
                self.outcomes.missed.append(f"retried {request.method} {request.url.path}: {response.status_code}")
            return

    async def _exchange(self, http: httpx.AsyncClient, kind: str, request: httpx.Request, expected: int) -> bool:
        began = time.monotonic()
        try:
            response = await http.send(request)
        except httpx.TransportError as error:
            self.outcomes.failed(kind, error, began)
            await self._again(http, request, expected)
            return False
        if self.outcomes.answered(kind, response.status_code, expected, began):
            return True
        await self._again(http, request, expected)
        return False

    async def _reader(self, http: httpx.AsyncClient, seed: int) -> None:
        choose = random.Random(seed).choice
        while not self.stop.is_set():
            await self._exchange(http, "lookup", http.build_request("GET", f"/api/v1/words/{choose(WORDS)}"), 200)
            await asyncio.sleep(0.005)

    async def _writer(self, http: httpx.AsyncClient, key: str, seed: int) -> None:
        choose = random.Random(seed).choice
        auth = {"X-API-Key": key}
        while not self.stop.is_set():
            create = http.build_request(
                "POST",
                "/api/v1/lists",
                json={"name": f"balanced {uuid.uuid4().hex[:10]}"},
                headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
            )
            began = time.monotonic()
            try:
                created = await http.send(create)
            except httpx.TransportError as error:
                self.outcomes.failed("create list", error, began)
                await self._again(http, create, 201)
                continue
            if not self.outcomes.answered("create list", created.status_code, 201, began):
                await self._again(http, create, 201)
                continue
            add = http.build_request(
                "POST",
                f"/api/v1/lists/{created.json()['id']}/words",
                json={"headwords": [choose(WORDS)]},
                headers={**auth, "If-Match": "*"},
            )
            await self._exchange(http, "add word", add, 200)
            await asyncio.sleep(0.02)

    async def _follower(self, seed: int) -> None:
        """Imports, each followed over SSE (the SDK's follow_job) and over a WebSocket (the SDK's Realtime) at once;
        then the job's kept events, read afresh, must all have reached both."""
        async with AsyncLexica(self.base_url, api_key=self.admin_key, timeout=20.0, max_retries=0) as lexica:
            number = 0
            while not self.stop.is_set():
                number += 1
                phase = self.outcomes.phase
                entries = [
                    {"headword": f"zzbalanced{seed}x{number}x{n}", "parts_of_speech": []}
                    for n in range(ENTRIES_PER_IMPORT)
                ]
                began = time.monotonic()
                try:
                    job = await lexica.import_entries(entries, idempotency_key=uuid.uuid4().hex)
                except Exception as error:  # any failure to start is counted; the loop goes on
                    self.outcomes.failed("start import", error, began)
                    await asyncio.sleep(0.2)
                    continue
                self.outcomes.answered("start import", 202, 202, began)
                over_sse, over_ws = await asyncio.gather(
                    self._sse_ids(lexica, job.id), self._ws_ids(job.id, subscribed_late=False)
                )
                kept = await self._ws_ids(job.id, subscribed_late=True)
                self.outcomes.jobs.append((phase, len(kept), len(over_sse), len(over_ws)))
                for way, seen in (("SSE", over_sse), ("WebSocket", over_ws)):
                    if seen != kept:
                        self.outcomes.missed.append(f"job {job.id} over {way}: missed {sorted(kept - seen)}")

    async def _sse_ids(self, lexica: AsyncLexica, job_id: str) -> set[str]:
        seen: set[str] = set()
        async for event in lexica.afollow_job(job_id, reconnect_attempts=20):
            if isinstance(event, JobProgress | JobFinished):
                seen.add(event.event_id)
        return seen

    async def _ws_ids(self, job_id: str, *, subscribed_late: bool) -> set[str]:
        """The job's events over a WebSocket until `job.finished` (a late subscription: the kept ones, replayed)."""
        seen: set[str] = set()
        async with (
            asyncio.timeout(120),
            Realtime(self.base_url, api_key=self.admin_key, topics=[f"job:{job_id}"]) as rt,
        ):
            async for message in rt:
                if isinstance(message, JobProgress | JobFinished):
                    seen.add(message.event_id)
                if isinstance(message, JobFinished):
                    return seen
        raise AssertionError(f"the WebSocket of job {job_id} ended before job.finished (late: {subscribed_late})")


def _worker_count(port: int, sample: str) -> float:
    """One sample of a `lexica worker`'s metrics (LEXICA_WORKER_METRICS_PORT); 0 when it has none yet."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0).text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            labels = ",".join(f'{name}="{value}"' for name, value in sorted(found.labels.items()))
            if f"{found.name}{{{labels}}}" == sample:
                return float(found.value)
    return 0.0


def _api_key(base_url: str, email: str, password: str) -> str:
    form = {"grant_type": "password", "username": email, "password": password}
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        token = http.post("/api/v1/auth/token", data=form).json()["access_token"]
        created = http.post(
            "/api/v1/users/me/api-keys", json={"name": "balancer"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


async def _keys(base_url: str) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
        return [await register(http) for _ in range(WRITERS)]


class Fleet:
    """The API instances, each on its own fixed port (the balancer's list of instances holds across restarts)."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env = env
        self.ports = [free_port() for _ in range(INSTANCES)]
        self._stacks = [contextlib.ExitStack() for _ in range(INSTANCES)]
        self.served: list[Served | None] = [None] * INSTANCES
        self.restarts: list[str] = []

    def start(self, at: int) -> None:
        context = run_lexica_serve(self.database_url, self.workdir, extra_env=self.env, port=self.ports[at])
        self.served[at] = self._stacks[at].enter_context(context)

    def restart(self, at: int) -> None:
        """SIGTERM, wait for the drain and the exit, start again on the same port."""
        served = self.served[at]
        assert served is not None
        began = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(timeout=DRAIN_SECONDS + GRACE_SECONDS + 10)
        stopped = time.monotonic()
        self._stacks[at].close()
        assert code == 0, f"instance {at + 1} exited with {code}:\n{served.log()[-3000:]}"
        self.start(at)
        ready = time.monotonic() - stopped
        self.restarts.append(f"instance {at + 1}: stopped in {stopped - began:.1f} s, ready again {ready:.1f} s later")

    def kill(self, at: int) -> float:
        """SIGKILL; returns when (time.monotonic) the signal was sent."""
        served = self.served[at]
        assert served is not None
        served.process.kill()
        killed_at = time.monotonic()
        served.process.wait(timeout=10)
        return killed_at

    def close(self) -> None:
        for stack in self._stacks:
            stack.close()


@contextlib.contextmanager
def _fleet(database_url: str, workdir: Path, env: dict[str, str]) -> Iterator[Fleet]:
    fleet = Fleet(database_url, workdir, env)
    try:
        for at in range(INSTANCES):  # one after another: the first runs the migrations and creates the admin
            fleet.start(at)
        yield fleet
    finally:
        fleet.close()


async def _phases(balancer: Balancer, fleet: Fleet, outcomes: Outcomes, keys: list[str], admin_key: str) -> None:
    load = Load(balancer.base_url, outcomes, keys, admin_key)
    running = asyncio.create_task(load.run())
    await asyncio.sleep(3.0)
    outcomes.phase = "rolling restart"
    for at in range(INSTANCES):
        await asyncio.to_thread(fleet.restart, at)
        await asyncio.sleep(1.0)
    await asyncio.sleep(2.0)
    outcomes.phase = "one instance killed"
    killed_at = await asyncio.to_thread(fleet.kill, 1)
    await asyncio.sleep(4.0)
    outcomes.phase = "after"
    load.stop.set()
    async with asyncio.timeout(180):
        await running
    print("\nrestarts:", "; ".join(fleet.restarts))
    print("answers:", dict(sorted(outcomes.answers.items())))
    print(f"failures (phase, request, began, ended; the kill at {killed_at:.3f}):", outcomes.failures)
    print("sent again after a failure:", dict(load.retried))
    print("jobs (phase, kept events, over SSE, over WebSocket):", outcomes.jobs)
    streams = balancer.answering_instances("GET /api/v1/jobs/")  # the event streams (the SDK reads nothing else)
    sockets = balancer.answering_instances("GET /api/v1/ws ")
    print("SSE connections by instance:", dict(streams), "WebSocket connections by instance:", dict(sockets))

    assert not outcomes.missed, "\n".join(outcomes.missed[:20])
    restarted = outcomes.in_phase("rolling restart")
    assert not restarted, f"requests failed during the rolling restart: {restarted}"
    restart_jobs = [job for job in outcomes.jobs if job[0] == "rolling restart"]
    assert len(restart_jobs) >= FOLLOWERS, f"too few jobs ran during the rolling restart: {outcomes.jobs}"
    # Each job's followers reconnected at least once: more streams and sockets than jobs and their late readers.
    jobs = len(outcomes.jobs)
    assert sum(streams.values()) > jobs, f"no SSE stream reconnected: {streams}, {jobs} jobs"
    assert sum(sockets.values()) > 2 * jobs, f"no WebSocket reconnected: {sockets}, {jobs} jobs"
    # (b) Only requests in flight on the killed instance failed: each began before the kill, and there cannot be
    # more of them than clients. Every one succeeded when sent again (outcomes.missed is empty, above).
    # A request the balancer sent to the instance in the instant between the kill and its noticing (a refused
    # connection is sent elsewhere; one it had just sent on cannot be) counts as in flight too: NOTICE_SECONDS.
    killed = [failure for failure in outcomes.failures if failure[3] >= killed_at and failure[0] != "rolling restart"]
    late = [failure for failure in killed if failure[2] > killed_at + NOTICE_SECONDS]
    assert not late, f"requests sent {NOTICE_SECONDS} s or more after the kill (at {killed_at:.3f}) failed: {late}"
    assert len(killed) <= READERS + WRITERS + FOLLOWERS, killed


@pytest.mark.slow  # about a minute: three restarts, a kill, and every follower to the end
def test_rolling_restart_loses_nothing_and_a_killed_instance_fails_only_its_requests(tmp_path: Path) -> None:
    binary = haproxy_binary()
    if binary is None:
        skip_or_fail("haproxy is not installed (Debian package haproxy; `make test-tools` installs it)")
    assert binary is not None
    try:
        with empty_database("postgresql", tmp_path) as database_url, private_redis(tmp_path) as redis:
            asyncio.run(seed_entries(database_url, SAMPLE_ENTRIES))
            env = {
                "LEXICA_REDIS_URL": redis.url,
                "LEXICA_SECRET_KEY": "load-balancer-secret-key-long-enough-for-every-check",
                "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
                "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
                "LEXICA_FORWARDED_ALLOW_IPS": "127.0.0.1",
                "LEXICA_RATE_LIMIT_ANONYMOUS": "1000000/minute",
                "LEXICA_RATE_LIMIT_AUTHENTICATED": "1000000/minute",
                "LEXICA_JOB_FILES_DIR": str(tmp_path / "jobs"),
                "LEXICA_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
                "LEXICA_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
                "LEXICA_EVENT_STREAM_LIFETIME_SECONDS": "120",
                "LEXICA_IDEMPOTENCY_LEASE_SECONDS": "6",  # a killed instance's claims lapse soon (60 s by default)
                "LEXICA_LOG_LEVEL": "info",  # the instances' access and shutdown lines, for a failure's story
            }
            metrics = (free_port(), free_port())
            with (
                _fleet(database_url, tmp_path, env) as fleet,
                run_worker(database_url, tmp_path, extra_env={**env, "LEXICA_WORKER_METRICS_PORT": str(metrics[0])}),
                run_worker(database_url, tmp_path, extra_env={**env, "LEXICA_WORKER_METRICS_PORT": str(metrics[1])}),
                run_haproxy(binary, tmp_path / "haproxy", fleet.ports, free_port()) as balancer,
            ):
                keys = asyncio.run(_keys(balancer.base_url))
                admin_key = _api_key(balancer.base_url, *ADMIN)
                outcomes = Outcomes()
                asyncio.run(_phases(balancer, fleet, outcomes, keys, admin_key))
                # Every import ran on one of the two workers, and each worker counts the jobs it ran (its metrics
                # are copied from its counts once a second: the last job may take that long to show).
                succeeded = 'lexica_jobs_finished_total{kind="import",state="succeeded"}'
                deadline = time.monotonic() + 10
                while (finished := sum(_worker_count(port, succeeded) for port in metrics)) < len(outcomes.jobs):
                    assert time.monotonic() < deadline, f"workers counted {finished} imports, {len(outcomes.jobs)} ran"
                    time.sleep(0.2)
                print("imports finished, by the workers' metrics:", finished, "followed:", len(outcomes.jobs))
    except ServiceUnavailable as unavailable:
        skip_or_fail(str(unavailable))
