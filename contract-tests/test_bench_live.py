"""`python -m bench` end to end in quick mode on two Lexica scenarios (one request pre-built by wrk, one path list
driven by the Lua script), over a small dictionary: the table is printed and every ratio is positive.

Needs wrk (`make bench-tools`): skipped without it, failed without it when LEXICA_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.report import HEADER
from bench.run import cache_counts
from bench.scenarios import BASELINE, CACHED_LOOKUP, UNCACHED_LOOKUP
from bench.services import skip_or_fail
from lexica.words.gcide import gcide_files

REPOSITORY = Path(__file__).resolve().parents[1]
HEADWORDS = 300  # the first GCIDE records of letter A, apple among them: enough for a path list, quick to import
ROW = re.compile(
    r"^(?P<name>.+?)\s+(?P<rps>[\d,]+)\s+(?P<p50>\d+\.\d\d)\s+(?P<p99>\d+\.\d\d)\s+(?P<ratio>\d+\.\d\d|-)\s+(?P<errors>\d+)$"
)


@pytest.fixture
def wrk() -> str:
    executable = shutil.which("wrk")
    if executable is None:
        skip_or_fail("wrk is not installed (`make bench-tools` installs the Debian package)")
    return executable


@pytest.fixture
def small_dictionary(tmp_path: Path) -> Path:
    source: dict[str, Any] = json.loads(next(p for p in gcide_files() if p.name == "words_A.json").read_bytes())
    chosen = dict(list(source.items())[:HEADWORDS])
    chosen["apple"] = source["apple"]
    directory = tmp_path / "gcide"
    directory.mkdir()
    (directory / "words_A.json").write_text(json.dumps(chosen))
    return directory


def _bench_env(tmp_path: Path, gcide_dir: Path) -> dict[str, str]:
    # Only our LEXICA_ settings: a developer's shell must not change what the bench runs against.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEXICA_")}
    env.update(
        {
            "PYTHONPATH": str(REPOSITORY),
            "LEXICA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bench.sqlite3'}",
            "LEXICA_GCIDE_DATA_DIR": str(gcide_dir),
            "LEXICA_ENVIRONMENT": "test",
            "LEXICA_LOG_LEVEL": "warning",
        }
    )
    return env


@pytest.mark.slow
def test_quick_bench_prints_a_positive_ratio_for_the_baseline_and_each_chosen_scenario(
    wrk: str, small_dictionary: Path, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "bench", "--quick", "--only", "entry lookup, cached", "--only", "uncached"]
    # cwd is the temporary directory so that no .env file of the checkout is read.
    completed = subprocess.run(
        command, cwd=tmp_path, env=_bench_env(tmp_path, small_dictionary), capture_output=True, text=True, timeout=300
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    lines = completed.stdout.splitlines()
    assert HEADER in lines, output
    rows = [match for line in lines[lines.index(HEADER) + 1 :] if (match := ROW.match(line))]
    assert [row["name"].strip() for row in rows] == [BASELINE.name, CACHED_LOOKUP.name, UNCACHED_LOOKUP.name], output
    for row in rows:
        assert float(row["rps"].replace(",", "")) > 0, output
        assert float(row["ratio"]) > 0, output
        assert row["errors"] == "0", output
    assert float(rows[0]["ratio"]) == 1.0


def test_entry_cache_counters_are_read_from_prometheus_text_summed_over_labels() -> None:
    metrics = "\n".join(
        [
            "# TYPE lexica_entry_cache_hits_total counter",
            'lexica_entry_cache_hits_total{worker="1"} 90',
            'lexica_entry_cache_hits_total{worker="2"} 5',
            "lexica_entry_cache_misses_total 5.0",
            "lexica_entry_cache_hits_created 1.7e9",
        ]
    )
    assert cache_counts(metrics) == (95.0, 5.0)
    assert cache_counts("lexica_entry_cache_hits_total 3") is None  # no misses counter: no ratio
