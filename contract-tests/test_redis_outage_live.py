"""A Redis outage, against real processes: a uvicorn server on SQLite and a private `redis-server` that the tests
kill, freeze (SIGSTOP: a Redis that accepts connections and never answers, like an unreachable host) and restart.

What must hold (docs/security.md, "When Redis is down"): sign-in keeps working (counted in this process), writes
that happened answer 2xx and exist, nothing answers 5xx, an outage costs a few fast failures rather than a timeout
per request (circuit breaker), readiness stays 200 but says Redis is failing (degraded), and once Redis is back no
request fails on a stale pooled connection.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from conftest import run_live_server, seed_database, started_redis
from seed import SAMPLE_ENTRIES

from bench.services import RedisServer

PASSWORD = "Quiet-Lantern-47-Orchard"
SOCKET_TIMEOUT = 0.5  # LEXICA_REDIS_SOCKET_TIMEOUT_SECONDS of the server under test
REQUESTS_IN_OUTAGE = 40


class FreezableRedis(RedisServer):
    """A private Redis that can also be frozen (SIGSTOP) and thawed (SIGCONT)."""

    def freeze(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGCONT)  # a frozen process dies only once it runs again
        super().kill()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreezableRedis]:
    with started_redis(FreezableRedis(tmp_path_factory.mktemp("private-redis"))) as server:
        yield server


@pytest.fixture(scope="module")
def base_url(redis_server: FreezableRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = seed_database(tmp_path_factory.mktemp("outage-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_REDIS_URL": redis_server.url,
        "LEXICA_SECRET_KEY": "redis-outage-secret-key-long-enough-for-every-check",
        "LEXICA_REDIS_SOCKET_TIMEOUT_SECONDS": str(SOCKET_TIMEOUT),
        "LEXICA_REDIS_CONNECT_TIMEOUT_SECONDS": str(SOCKET_TIMEOUT),
        "LEXICA_REDIS_BREAKER_FAILURES": "3",
        "LEXICA_REDIS_BREAKER_RESET_SECONDS": "2",
        # Rate limiting stays on (it must fall back to this process's counters), with room for the tests' requests.
        "LEXICA_RATE_LIMIT_AUTHENTICATED": "10000/minute",
        "LEXICA_RATE_LIMIT_LOGIN": "1000/minute",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("outage-server"), extra_env=env) as url:
        yield url


@pytest.fixture
def redis_up(redis_server: FreezableRedis, base_url: str) -> Iterator[FreezableRedis]:
    """Redis running at the start of the test, and again at its end whatever the test did to it."""
    yield redis_server
    redis_server.kill()
    redis_server.start()
    _wait_ready(base_url)


def _wait_ready(base_url: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while httpx.get(f"{base_url}/health/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "not ready again after Redis came back"
        time.sleep(0.1)


class User:
    """A registered user and the answers the server gave it."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.email = f"outage-{uuid.uuid4().hex[:12]}@example.com"
        self.statuses: list[tuple[str, int]] = []
        registered = client.post("/api/v1/auth/register", json={"email": self.email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        self.token = self.sign_in(PASSWORD).json()["access_token"]
        self.created: dict[str, set[str]] = {}  # acknowledged lists and the words acknowledged in them

    def _note(self, what: str, response: httpx.Response) -> httpx.Response:
        self.statuses.append((what, response.status_code))
        return response

    def sign_in(self, password: str) -> httpx.Response:
        form = {"grant_type": "password", "username": self.email, "password": password}
        return self._note("sign-in", self.client.post("/api/v1/auth/token", data=form))

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def create_list(self) -> httpx.Response:
        response = self.client.post("/api/v1/lists", json={"name": "Outage"}, headers=self._headers())
        if self._note("create list", response).status_code == 201:
            self.created[response.json()["id"]] = set()
        return response

    def add_words(self, list_id: str, *headwords: str) -> httpx.Response:
        etag = self.client.get(f"/api/v1/lists/{list_id}", headers=self._headers()).headers["ETag"]
        response = self.client.post(
            f"/api/v1/lists/{list_id}/words",
            json={"headwords": list(headwords)},
            headers=self._headers(**{"If-Match": etag}),
        )
        if self._note("add words", response).status_code == 200:
            self.created[list_id].update(headwords)
        return response

    def server_errors(self) -> list[tuple[str, int]]:
        return [(what, status) for what, status in self.statuses if status >= 500]

    def stored(self) -> dict[str, set[str]]:
        """Every list of the user, with its words, as the server reads them back."""
        lists = self.client.get("/api/v1/lists", headers=self._headers(), params={"limit": 100})
        assert lists.status_code == 200, lists.text
        found: dict[str, set[str]] = {}
        for item in lists.json()["items"]:
            detail = self.client.get(f"/api/v1/lists/{item['id']}", headers=self._headers(), params={"limit": 100})
            found[item["id"]] = {word["headword"] for word in detail.json()["words"]["items"]}
        return found


@pytest.fixture
def user(base_url: str) -> Iterator[User]:
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        yield User(client)


def test_with_redis_down_sign_in_and_writes_answer_for_what_happened(
    redis_up: FreezableRedis, user: User, base_url: str
) -> None:
    redis_up.kill()

    assert user.sign_in("Not-The-Right-One-42").status_code == 400
    assert user.sign_in(PASSWORD).status_code == 200
    for _ in range(3):
        assert user.create_list().status_code == 201
    for list_id in user.created:
        assert user.add_words(list_id, "apple", "banana").status_code == 200
    ready = httpx.get(f"{base_url}/health/ready", timeout=5)

    assert user.server_errors() == []
    assert user.stored() == user.created  # every acknowledged write is there, and nothing else
    # Degraded, still in rotation: every instance shares Redis, and taking them all out would be an outage.
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "checks": {"storage": "ok", "dictionary": "ok", "redis": "failing"}}


def test_sign_in_is_still_throttled_while_redis_is_down(redis_up: FreezableRedis, user: User) -> None:
    redis_up.kill()

    statuses = [user.sign_in("Not-The-Right-One-42").status_code for _ in range(7)]

    assert statuses == [400] * 6 + [429]
    assert user.sign_in(PASSWORD).status_code == 429


def test_a_frozen_redis_costs_a_few_timeouts_not_one_per_request(redis_up: FreezableRedis, user: User) -> None:
    redis_up.freeze()

    started = time.monotonic()
    for _ in range(REQUESTS_IN_OUTAGE):
        assert user.create_list().status_code == 201
    elapsed = time.monotonic() - started
    redis_up.thaw()
    print(f"{REQUESTS_IN_OUTAGE} writes with Redis frozen: {elapsed:.2f} s")  # the figure; run with -s to see it

    assert user.server_errors() == []
    # Without the breaker each request waits for its own timeouts (event publishing, ...): at least 40 x 0.5 s.
    assert elapsed < REQUESTS_IN_OUTAGE * SOCKET_TIMEOUT / 3, f"{REQUESTS_IN_OUTAGE} writes took {elapsed:.1f} s"
    assert user.stored() == user.created


def test_after_redis_restarts_no_request_fails_on_a_stale_connection(
    redis_up: FreezableRedis, user: User, base_url: str
) -> None:
    for _ in range(5):  # fill the connection pools
        user.create_list()
    redis_up.kill()
    redis_up.start()

    for _ in range(5):
        user.sign_in(PASSWORD)
        user.create_list()
    list_id = next(iter(user.created))
    user.add_words(list_id, "cat")
    ready = httpx.get(f"{base_url}/health/ready", timeout=5)

    assert user.server_errors() == []
    assert {status for _what, status in user.statuses} <= {200, 201}
    assert ready.status_code == 200
    assert user.stored() == user.created
