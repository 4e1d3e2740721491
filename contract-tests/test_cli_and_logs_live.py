"""The `lexica` command as an operator meets it: `--version`, `serve --host/--port`, a bad setting in one line, and
JSON log lines (`LEXICA_LOG_FORMAT=json`) that carry the request id, the user id, the route template, the status
and the duration — and nothing a client can use to forge a line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import seed_database
from seed import SAMPLE_ENTRIES
from serve_process import free_port, run_lexica_serve, serve_env

import lexica

ADMIN = ("logs-admin@lexica.test", "Amber-Lighthouse-73-Quill")
LEXICA = [sys.executable, "-m", "lexica.cli"]


def _lexica(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEXICA, *arguments], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_version_is_printed(tmp_path: Path) -> None:
    finished = _lexica("--version", env=serve_env("sqlite+aiosqlite://", 1, {}), cwd=tmp_path)
    assert finished.returncode == 0
    assert finished.stdout.strip() == f"lexica {lexica.__version__}"


def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    for name, value, said in (
        ("LEXICA_PORT", "eighty", "LEXICA_PORT: Input should be a valid integer"),
        ("LEXICA_LOG_FORMAT", "xml", "LEXICA_LOG_FORMAT: Input should be 'console' or 'json'"),
    ):
        env = serve_env("sqlite+aiosqlite://", 1, {name: value})
        for command in (["serve"], ["worker", "--burst"], ["db", "upgrade"]):
            finished = _lexica(*command, env=env, cwd=tmp_path)
            output = (finished.stdout + finished.stderr).strip()
            assert finished.returncode == 2, output
            assert len(output.splitlines()) == 1, output
            assert output.startswith(f"Cannot start: {said}"), output


def _json_lines(log: str) -> list[dict[str, Any]]:
    lines = [line for line in log.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        parsed.append(json.loads(line))  # every line is one JSON object: nothing split or forged
    return parsed


def test_json_logs_carry_the_request_the_user_and_the_route(tmp_path: Path) -> None:
    database_url = seed_database(tmp_path, SAMPLE_ENTRIES)
    headword = SAMPLE_ENTRIES[0].headword
    port = free_port()
    env = {
        "LEXICA_LOG_FORMAT": "json",
        "LEXICA_LOG_LEVEL": "info",
        "LEXICA_PORT": "1",  # the command line wins
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
        "LEXICA_SECRET_KEY": "json-logs-live-secret-key-long-enough-for-every-check",
    }
    with run_lexica_serve(database_url, tmp_path, extra_env=env, port=port, arguments=["--port", str(port)]) as served:
        assert served.port == port
        with httpx.Client(base_url=served.base_url, timeout=10) as http:
            assert http.get(f"/api/v1/words/{headword}", headers={"X-Request-ID": "trace-lookup-1"}).is_success
            assert http.get("/api/v1/words/forged%0A%7B%22level%22%3A%22error%22%7D").status_code == 404
            assert http.get("/no/such/route").status_code == 404
            form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
            token = http.post("/api/v1/auth/token", data=form).json()["access_token"]
            me = http.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-me-1"}
            )
            assert me.status_code == 200
            user_id = me.json()["id"]
        time.sleep(1.0)  # log lines are flushed every 0.2 s
        lines = _json_lines(served.log())

    access = {line.get("request_id"): line for line in lines if line["logger"] == "lexica.access"}
    lookup = access["trace-lookup-1"]
    assert lookup["route"] == "/api/v1/words/{headword}"
    assert lookup["method"] == "GET"
    assert lookup["status"] == 200
    assert isinstance(lookup["duration_ms"], float | int)
    assert lookup["level"] == "info"
    assert lookup["timestamp"].endswith("Z")
    assert time.strptime(lookup["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")
    assert "user_id" not in lookup

    mine = access["trace-me-1"]
    assert mine["route"] == "/api/v1/users/me"
    assert mine["user_id"] == user_id
    log_text = served.log()
    assert ADMIN[0] not in log_text  # neither the email
    assert ADMIN[1] not in log_text  # nor the password
    assert token not in log_text  # nor the token

    unmatched = [line for line in access.values() if line.get("path") == "/no/such/route"]
    assert unmatched
    assert unmatched[0]["route"] == "unmatched"
    assert unmatched[0]["status"] == 404
    # The forged path is one line whose fields keep the control character escaped.
    forged = [line for line in access.values() if "forged" in line.get("path", "")]
    assert len(forged) == 1
    assert "\n" not in forged[0]["path"]
    assert not [line for line in lines if line.get("level") == "error" and line["logger"] != "lexica.access"]
