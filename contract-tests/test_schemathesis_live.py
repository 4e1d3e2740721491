"""The Schemathesis CLI, every check and phase, against uvicorn serving the whole GCIDE dictionary.

`make contract-live` runs this alone. Requests carry an admin's API key; `deleteCurrentUser` is excluded
because it would delete that admin mid-run (server/tests/auth covers it). The stateful phase follows the spec's
OpenAPI links (word lists: create -> add words -> get -> patch -> remove word -> delete, with ETags as If-Match).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import run_live_server, seed_database
from seed import gcide_entries

ROOT = Path(__file__).resolve().parent.parent
ADMIN_EMAIL = "root@lexica.test"
ADMIN_PASSWORD = "a long passphrase for the live run"


def _admin_api_key(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        tokens = client.post(
            "/api/v1/auth/token", data={"grant_type": "password", "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        tokens.raise_for_status()
        created = client.post(
            "/api/v1/users/me/api-keys",
            json={"name": "schemathesis-live"},
            headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
        )
        created.raise_for_status()
        return str(created.json()["key"])


@pytest.mark.slow
def test_schemathesis_cli_finds_nothing_against_a_live_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    database_url = seed_database(tmp_path_factory.mktemp("live-gcide"), gcide_entries())
    settings = {
        # On, as deployed (the semantic checks verify every response's RateLimit headers), far above the run's rate.
        "LEXICA_RATE_LIMIT_ENABLED": "true",
        "LEXICA_RATE_LIMIT_ANONYMOUS": "1000000/minute",
        "LEXICA_RATE_LIMIT_AUTHENTICATED": "1000000/minute",
        "LEXICA_RATE_LIMIT_LOGIN": "1000000/minute",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    workdir = tmp_path_factory.mktemp("live-uvicorn")
    with run_live_server(database_url, workdir, ready_timeout=120.0, extra_env=settings) as base_url:
        key = _admin_api_key(base_url)
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "all",  # every built-in check, use-after-free included, unmodified
            "--header",
            f"X-API-Key: {key}",
            "--exclude-operation-id",
            "deleteCurrentUser",
            "--max-examples",
            "40",
            "--seed",
            "20261122",
            "--request-timeout",
            "10",
            "--phases",
            "examples,coverage,fuzzing,stateful",
        ]
        # Our NDJSON serializer and a fresh Idempotency-Key per request.
        env = {**os.environ, "SCHEMATHESIS_HOOKS": str(ROOT / "contract-tests" / "schemathesis_hooks.py")}
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, f"Schemathesis found problems:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
