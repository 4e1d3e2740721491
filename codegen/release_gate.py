"""The breaking-change gate: the specs of the working tree against those of the last release (a `v*` git tag).

A breaking change (`codegen.spec_diff`) passes only when the spec's `info.version` has a higher major part than
the release's and `CHANGELOG.md` has a section for that version that names what broke (the operationId,
component schema, channel or message of each change). Run: `python -m codegen.release_gate` (part of
`make test` through `contract-tests/test_release_gate.py`); `--against v1.2.0` compares with another tag.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from codegen.spec_diff import Breaking, asyncapi_breaking_changes, openapi_breaking_changes

ROOT = Path(__file__).resolve().parent.parent
SPECS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[Breaking]]] = {
    "openapi/lexica.yaml": openapi_breaking_changes,
    "asyncapi/lexica.yaml": asyncapi_breaking_changes,
}
CHANGELOG = "CHANGELOG.md"
RELEASES_FILE = "codegen/releases.json"
RELEASE_TAG = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


class NoRelease(RuntimeError):
    """No release tag is reachable from the checked-out commit."""


@dataclass(frozen=True)
class Verdict:
    release: str
    breaking: dict[str, list[Breaking]]  # spec path -> its breaking changes
    problems: list[str]  # why the gate fails; empty when it passes

    @property
    def passed(self) -> bool:
        return not self.problems


def _run_git(*args: str, root: Path, check: bool) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git") or "git"
    return subprocess.run([git, *args], cwd=root, capture_output=True, text=True, check=check)  # noqa: S603 - our argv


def _git(*args: str, root: Path = ROOT) -> str:
    return _run_git(*args, root=root, check=True).stdout


def _version(release: str) -> tuple[int, ...]:
    found = RELEASE_TAG.fullmatch(release)
    assert found is not None
    return tuple(int(part) for part in found.groups())


def _recorded_releases(root: Path) -> dict[str, str]:
    """`codegen/releases.json`: each release tag and its commit, for clones that carry no tags (a mirror that
    pushes branches only, `--no-tags`): the commit is in main's history whichever way it was cloned."""
    path = root / RELEASES_FILE
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {tag: commit for tag, commit in recorded.items() if RELEASE_TAG.fullmatch(tag)}


def _is_ancestor(commit: str, root: Path) -> bool:
    return _run_git("merge-base", "--is-ancestor", commit, "HEAD", root=root, check=False).returncode == 0


def last_release(root: Path = ROOT) -> str:
    """The newest release reachable from HEAD (by version, not by date): a `vX.Y.Z` tag, else a release recorded
    in `codegen/releases.json` whose commit is an ancestor of HEAD. Returns what `git show` can read (the tag, or
    the recorded commit)."""
    tags = [
        tag for tag in _git("tag", "--merged", "HEAD", "--list", "v*", root=root).split() if RELEASE_TAG.fullmatch(tag)
    ]
    if tags:
        return max(tags, key=_version)
    recorded = {tag: commit for tag, commit in _recorded_releases(root).items() if _is_ancestor(commit, root)}
    if recorded:
        return recorded[max(recorded, key=_version)]
    raise NoRelease(
        "no release tag (vX.Y.Z) is reachable from HEAD and no release of codegen/releases.json is in its history "
        "(a shallow clone needs `git fetch --unshallow --tags`)"
    )


def major(version: str) -> int:
    found = re.match(r"(\d+)\.", version)
    if found is None:
        raise ValueError(f"{version!r} is not a MAJOR.MINOR.PATCH version")
    return int(found.group(1))


def changelog_section(text: str, version: str) -> str | None:
    """The text of the `## [version]` section, up to the next `## ` heading; None when there is none."""
    found = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    return found.group(1) if found else None


def judge(
    old_specs: Mapping[str, Mapping[str, Any]], new_specs: Mapping[str, Mapping[str, Any]], changelog: str, release: str
) -> Verdict:
    breaking: dict[str, list[Breaking]] = {}
    problems: list[str] = []
    for path, compare in SPECS.items():
        changes = compare(old_specs[path], new_specs[path])
        if not changes:
            continue
        breaking[path] = changes
        old_version = str(old_specs[path]["info"]["version"])
        new_version = str(new_specs[path]["info"]["version"])
        listed = "\n".join(f"  - {change}" for change in changes)
        if major(new_version) <= major(old_version):
            problems.append(
                f"{path} breaks its consumers since {release} (version {old_version}), and its info.version "
                f"{new_version} does not raise the major part:\n{listed}"
            )
            continue
        section = changelog_section(changelog, new_version)
        if section is None:
            problems.append(f"{path} {new_version} breaks its consumers and {CHANGELOG} has no [{new_version}] section")
            continue
        unnamed = sorted({change.subject for change in changes if change.subject not in section})
        if unnamed:
            problems.append(
                f"{CHANGELOG} [{new_version}] does not name what {path} breaks: {', '.join(unnamed)}\n{listed}"
            )
    return Verdict(release, breaking, problems)


def check(root: Path = ROOT, against: str | None = None) -> Verdict:
    release = against or last_release(root)
    old_specs = {path: yaml.safe_load(_git("show", f"{release}:{path}", root=root)) for path in SPECS}
    new_specs = {path: yaml.safe_load((root / path).read_text()) for path in SPECS}
    changelog_path = root / CHANGELOG
    changelog = changelog_path.read_text() if changelog_path.exists() else ""
    return judge(old_specs, new_specs, changelog, release)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="the release tag to compare with (default: the last one)")
    options = parser.parse_args(argv)
    try:
        verdict = check(against=options.against)
    except NoRelease as exc:
        print(f"release gate: {exc}", file=sys.stderr)
        return 2
    for path, changes in verdict.breaking.items():
        print(f"{path}: {len(changes)} breaking change(s) since {verdict.release}")
    if verdict.passed:
        print(f"release gate: passed against {verdict.release}")
        return 0
    for problem in verdict.problems:
        print(f"release gate: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
