"""The repository's examples run as written, against a live server: `examples/walkthrough.sh` (curl) and
`examples/sdk_walkthrough.py` (the SDK), with `examples/entries.ndjson` as the upload."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_live_server, seed_database
from seed import SAMPLE_ENTRIES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ADMIN_EMAIL = "examples-admin@example.com"
ADMIN_PASSWORD = "examples admin passphrase"


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = seed_database(tmp_path_factory.mktemp("examples-db"), SAMPLE_ENTRIES)
    settings = {"LEXICA_FIRST_ADMIN_EMAIL": ADMIN_EMAIL, "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with run_live_server(database, tmp_path_factory.mktemp("examples-server"), extra_env=settings) as base_url:
        yield base_url


def _environment(base_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEXICA_URL": base_url,
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _run_example(command: list[str], base_url: str) -> list[str]:
    """The example's output lines, once it ran to the end against `base_url`."""
    result = subprocess.run(
        command, env=_environment(base_url), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout.splitlines()


def test_every_upload_line_is_an_entry_input() -> None:
    lines = (EXAMPLES / "entries.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line in lines:
        entry = json.loads(line)
        assert set(entry) == {"headword", "parts_of_speech"}


def test_the_curl_walkthrough_runs_as_written(examples_server: str) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed")
    out = _run_example(["bash", str(EXAMPLES / "walkthrough.sh")], examples_server)
    assert "304" in out  # the conditional read
    assert out.count("412") == 2  # the stale list write and the stale entry patch
    assert "event: job.finished" in out
    assert "To enter a word in a dictionary." in out
    assert out[-3:] == ["204", "404", "204"]  # the job deleted (then gone) and the list deleted


def test_the_sdk_walkthrough_runs_as_written(examples_server: str) -> None:
    out = _run_example([sys.executable, str(EXAMPLES / "sdk_walkthrough.py")], examples_server)
    assert out[0].startswith("apple ")
    assert "412: the list changed since that ETag" in out
    assert "list: ['apple', 'apple pie', 'applesauce']" in out
    assert "event: JobFinished" in out
    assert out[-1] == "job deleted"
