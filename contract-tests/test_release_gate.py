"""The breaking-change gate: the specs of this checkout against the last release tag, and the gate's rules (a major
bump and a CHANGELOG section naming the change) on edits of the real specs."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.services import skip_or_fail
from codegen.release_gate import RELEASES_FILE, SPECS, NoRelease, changelog_section, check, judge, last_release

ROOT = Path(__file__).resolve().parent.parent
CURRENT = {path: yaml.safe_load((ROOT / path).read_text()) for path in SPECS}
OPENAPI = "openapi/lexica.yaml"


def test_this_checkout_passes_the_gate_against_the_last_release() -> None:
    try:
        verdict = check(ROOT)
    except NoRelease as exc:
        skip_or_fail(str(exc))
    assert verdict.passed, "\n".join(verdict.problems)


def _without_job_progress(version: str) -> dict[str, dict[str, Any]]:
    edited = copy.deepcopy(CURRENT)
    del edited[OPENAPI]["components"]["schemas"]["Job"]["properties"]["progress"]
    edited[OPENAPI]["info"]["version"] = version
    return edited


def _major_after(version: str) -> str:
    return f"{int(version.split('.')[0]) + 1}.0.0"


def test_a_removed_response_property_fails_the_gate_and_is_named() -> None:
    version = CURRENT[OPENAPI]["info"]["version"]
    verdict = judge(CURRENT, _without_job_progress(version), changelog="", release="v-test")
    assert not verdict.passed
    (problem,) = verdict.problems
    assert "does not raise the major part" in problem
    assert "GET /api/v1/jobs/{job_id} 200 application/json.progress: property removed [Job]" in problem


def test_a_major_bump_needs_a_changelog_section_that_names_the_change() -> None:
    bumped = _major_after(CURRENT[OPENAPI]["info"]["version"])
    edited = _without_job_progress(bumped)
    without_section = judge(CURRENT, edited, changelog="# Changelog\n", release="v-test")
    assert [f"has no [{bumped}] section" in problem for problem in without_section.problems] == [True]
    unnamed = f"# Changelog\n\n## [{bumped}] - 2027-01-01\n\n### Breaking\n\n- Something else.\n"
    (problem,) = judge(CURRENT, edited, changelog=unnamed, release="v-test").problems
    assert "does not name what openapi/lexica.yaml breaks: Job" in problem
    named = f"# Changelog\n\n## [{bumped}] - 2027-01-01\n\n### Breaking\n\n- `Job.progress` is gone.\n\n## [0.1.0]\n"
    assert judge(CURRENT, edited, changelog=named, release="v-test").passed


def test_compatible_changes_need_no_bump() -> None:
    edited = copy.deepcopy(CURRENT)
    edited[OPENAPI]["components"]["schemas"]["Job"]["properties"]["note"] = {"type": "string"}
    assert judge(CURRENT, edited, changelog="", release="v-test").passed


def test_a_changelog_section_ends_at_the_next_release() -> None:
    text = "## [2.0.0] - x\n\nTwo.\n\n## [1.0.0] - y\n\nOne.\n"
    assert changelog_section(text, "2.0.0") == "\nTwo.\n\n"
    assert changelog_section(text, "1.0.0") == "\nOne.\n"
    assert changelog_section(text, "3.0.0") is None


def test_a_clone_without_tags_finds_the_release_recorded_in_codegen(tmp_path: Path) -> None:
    """A mirror that pushes branches only, or `git clone --no-tags`: the recorded commit of the release is still
    in main's history, so the gate still has something to compare with."""
    recorded = json.loads((ROOT / RELEASES_FILE).read_text(encoding="utf-8"))
    assert recorded, "codegen/releases.json records no release"
    clone = tmp_path / "clone"
    git = shutil.which("git") or "git"
    cloned = subprocess.run(
        [git, "clone", "--quiet", "--no-tags", str(ROOT), str(clone)], capture_output=True, text=True, check=False
    )
    if cloned.returncode != 0:
        skip_or_fail(f"cannot clone the checkout: {cloned.stderr.strip()}")
    if subprocess.run([git, "tag"], cwd=clone, capture_output=True, text=True, check=True).stdout.strip():
        pytest.skip("this git copied tags despite --no-tags")
    # The clone has the committed files, not this checkout's uncommitted edits: judge its own specs.
    release = last_release(clone)
    newest = max(recorded, key=lambda tag: tuple(int(part) for part in tag[1:].split(".")))
    assert release == recorded[newest]
    assert check(clone).release == release
