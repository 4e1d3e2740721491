"""An event stream that reaches its maximum lifetime ends with `stream.reconnect` and a `retry` hint.

Deterministic without timing tricks: the server queues jobs on Redis and no worker is running, so the job stays
queued and its stream has nothing to say until its lifetime (1 s here) ends it.
"""

from __future__ import annotations

import os

import httpx
import pytest
from conftest import require_empty_redis, run_live_server, seed_database
from seed import SAMPLE_ENTRIES
from sse_client import read_events

ADMIN = ("lifetime-admin@lexica.test", "Quiet-Lantern-47-Orchard")
REDIS_URL = os.environ.get("LEXICA_TEST_LIFETIME_REDIS_URL", "redis://127.0.0.1:6379/12")


def test_a_stream_with_nothing_to_say_ends_with_a_reconnect_hint(tmp_path_factory: pytest.TempPathFactory) -> None:
    require_empty_redis(REDIS_URL, "LEXICA_TEST_LIFETIME_REDIS_URL")
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
            first = read_events(http, job.json()["events_href"], auth)
            # Resuming after the stages event: again nothing but the hint.
            again = read_events(http, job.json()["events_href"], {**auth, "Last-Event-ID": "0-0"})
            state = http.get(job.json()["href"], headers=auth).json()["state"]
    assert [event.name for event in first] == ["job.stages", "stream.reconnect"]
    assert first[-1].retry == "1000"
    assert first[-1].data == {"reconnect_after_ms": 1000}
    assert [event.name for event in again] == ["stream.reconnect"]
    assert state == "queued"
