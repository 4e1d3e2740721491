"""Caches across instances, against real processes: two uvicorn servers over one SQLite database, a `lexica worker`
and a private `redis-server`. An entry read (and so cached) on both instances and then edited, deleted or re-imported
through instance A must be served as it now is by instance B within one second (without Redis, or before this was
built, B kept its copy for the cache's TTL: a minute)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import run_live_server, run_worker, seed_database, started_redis
from seed import SAMPLE_ENTRIES

from bench.services import RedisServer

BOUND_SECONDS = 1.0
GIVE_UP_SECONDS = 5.0  # how long B is watched, so that a failure says how late it was
ADMIN = ("coherence-admin@lexica.test", "Quiet-Lantern-47-Orchard")


@dataclass
class Fleet:
    a: httpx.Client
    b: httpx.Client
    admin: dict[str, str]  # Authorization for instance A


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with started_redis(RedisServer(tmp_path_factory.mktemp("coherence-redis"))) as server:
        yield server


@pytest.fixture(scope="module")
def fleet(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    database_url = seed_database(tmp_path_factory.mktemp("coherence-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_REDIS_URL": redis_server.url,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "coherence-live-secret-key-long-enough-for-every-check",
        "LEXICA_JOB_FILES_DIR": str(tmp_path_factory.mktemp("coherence-job-files")),  # shared, as in production
    }
    with (
        run_live_server(database_url, tmp_path_factory.mktemp("instance-a"), extra_env=env) as instance_a,
        run_live_server(database_url, tmp_path_factory.mktemp("instance-b"), extra_env=env) as instance_b,
        run_worker(database_url, tmp_path_factory.mktemp("coherence-worker"), extra_env=env),
        httpx.Client(base_url=instance_a, timeout=10.0) as a,
        httpx.Client(base_url=instance_b, timeout=10.0) as b,
    ):
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        token = a.post("/api/v1/auth/token", data=form).json()["access_token"]
        yield Fleet(a, b, {"Authorization": f"Bearer {token}"})


def cached_on_both(fleet: Fleet, headword: str) -> str:
    """Read the entry on both instances (twice on B, which then answers from its cache); its ETag."""
    etags = {fleet.a.get(f"/api/v1/words/{headword}").headers["ETag"]}
    for _ in range(2):
        etags.add(fleet.b.get(f"/api/v1/words/{headword}").headers["ETag"])
    assert len(etags) == 1, etags
    return etags.pop()


def delay_until(done: Callable[[httpx.Response], bool], client: httpx.Client, path: str) -> float:
    """Seconds until `client` answers `path` in a way `done` accepts (polled every 10 ms); fails past GIVE_UP."""
    started = time.perf_counter()
    while True:
        response = client.get(path)
        elapsed = time.perf_counter() - started
        if done(response):
            return elapsed
        if elapsed > GIVE_UP_SECONDS:
            pytest.fail(f"instance B still answers {path} as before {GIVE_UP_SECONDS:g} s after the change")
        time.sleep(0.01)


def sections(text: str) -> list[dict[str, object]]:
    definition = {"text": text, "examples": []}
    return [
        {"part_of_speech": "n.", "etymology": None, "definitions": [definition], "compounds": None, "synonyms": None}
    ]


def test_an_edit_through_one_instance_is_served_by_the_other_within_a_second(fleet: Fleet) -> None:
    etag = cached_on_both(fleet, "apple")

    edited = fleet.a.patch(
        "/api/v1/words/apple",
        json={"parts_of_speech": sections("Edited through instance A.")},
        headers={**fleet.admin, "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    assert edited.status_code == 200, edited.text
    new_etag = edited.headers["ETag"]

    delay = delay_until(lambda response: response.headers.get("ETag") == new_etag, fleet.b, "/api/v1/words/apple")
    print(f"\nedit on A served by B after {delay * 1000:.0f} ms")
    assert delay <= BOUND_SECONDS
    assert "Edited through instance A." in fleet.b.get("/api/v1/words/apple").text


def test_a_delete_through_one_instance_is_served_by_the_other_within_a_second(fleet: Fleet) -> None:
    etag = cached_on_both(fleet, "dog")

    deleted = fleet.a.delete("/api/v1/words/dog", headers={**fleet.admin, "If-Match": etag})
    assert deleted.status_code == 204, deleted.text

    delay = delay_until(lambda response: response.status_code == 404, fleet.b, "/api/v1/words/dog")
    print(f"\ndelete on A served by B after {delay * 1000:.0f} ms")
    assert delay <= BOUND_SECONDS
    assert fleet.b.get("/api/v1/search", params={"q": "dog", "mode": "exact"}).json()["items"] == []


def test_an_import_through_one_instance_is_served_by_the_other_within_a_second_of_its_end(fleet: Fleet) -> None:
    etag = cached_on_both(fleet, "banana")
    line = {"headword": "banana", "parts_of_speech": sections("Imported through instance A.")}

    started = fleet.a.post(
        "/api/v1/imports",
        content=json.dumps(line).encode() + b"\n",
        headers={**fleet.admin, "Content-Type": "application/x-ndjson"},
    )
    assert started.status_code == 202, started.text
    job_href = started.json()["href"]
    deadline = time.monotonic() + 30
    while (job := fleet.a.get(job_href, headers=fleet.admin).json())["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.01)
    assert job["state"] == "succeeded", job
    assert job["result"]["updated"] == 1

    # From the job's end: the instances learn of it when the worker announces it, just before it records the end.
    delay = delay_until(lambda response: response.headers.get("ETag") != etag, fleet.b, "/api/v1/words/banana")
    print(f"\nimport through A served by B {delay * 1000:.0f} ms after the job ended")
    assert delay <= BOUND_SECONDS
    assert "Imported through instance A." in fleet.b.get("/api/v1/words/banana").text
