"""An event stream that reaches its maximum lifetime ends with `stream.reconnect` and a `retry` hint.

Deterministic without timing tricks: the server queues jobs on Redis and no worker is running, so the job stays
queued and its stream has nothing to say until its lifetime (1 s here) ends it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
import redis
from asyncapi_contract import validate_sse_event
from conftest import run_live_server, seed_database
from seed import SAMPLE_ENTRIES

ADMIN = ("lifetime-admin@lexica.test", "Quiet-Lantern-47-Orchard")
REDIS_URL = os.environ.get("LEXICA_TEST_LIFETIME_REDIS_URL", "redis://127.0.0.1:6379/12")


def _require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
        client.flushdb()  # a database of its own: no queue or history left from an earlier run
    except redis.RedisError as exc:
        reason = f"Redis does not answer at {REDIS_URL} ({exc}); set LEXICA_TEST_LIFETIME_REDIS_URL"
        if os.environ.get("LEXICA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}. LEXICA_REQUIRE_SERVICES=1 requires it.")
        pytest.skip(reason)
    finally:
        client.close()


def _events(http: httpx.Client, href: str, headers: dict[str, str]) -> list[tuple[str, dict[str, Any], str | None]]:
    received: list[tuple[str, dict[str, Any], str | None]] = []
    with http.stream("GET", href, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif not line and "event" in fields:
                data = json.loads(fields["data"])
                validate_sse_event(fields["event"], data)
                received.append((fields["event"], data, fields.get("retry")))
                fields = {}
    return received


def test_a_stream_with_nothing_to_say_ends_with_a_reconnect_hint(tmp_path_factory: pytest.TempPathFactory) -> None:
    _require_redis()
    database_url = seed_database(tmp_path_factory.mktemp("lifetime-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_REDIS_URL": REDIS_URL,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "lifetime-live-secret-key-long-enough-for-every-check",
        "LEXICA_EVENT_STREAM_LIFETIME_SECONDS": "1",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("lifetime-api"), extra_env=env) as base_url:
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        with httpx.Client(base_url=base_url, timeout=30) as http:
            auth = {"Authorization": f"Bearer {http.post('/api/v1/auth/token', data=form).json()['access_token']}"}
            upload = b'{"headword": "zzqueued", "parts_of_speech": []}\n'
            job = http.post("/api/v1/imports", content=upload, headers={**auth, "Content-Type": "application/x-ndjson"})
            assert job.status_code == 202, job.text
            first = _events(http, job.json()["events_href"], auth)
            # Resuming after the stages event: again nothing but the hint.
            again = _events(http, job.json()["events_href"], {**auth, "Last-Event-ID": "0-0"})
            state = http.get(job.json()["href"], headers=auth).json()["state"]
    assert [name for name, _, _ in first] == ["job.stages", "stream.reconnect"]
    assert first[-1][2] == "1000"
    assert first[-1][1] == {"reconnect_after_ms": 1000}
    assert [name for name, _, _ in again] == ["stream.reconnect"]
    assert state == "queued"
