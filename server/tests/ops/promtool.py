"""Debian programs the ops tests run — promtool (package `prometheus`), haproxy — which `make test-tools` installs:
the tests that need one skip without it locally and fail in CI (LEXICA_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import shutil

from bench.services import skip_or_fail


def debian_tool(command: str, package: str) -> str:
    """The program's path (also looked for in /usr/sbin, which a user's PATH may lack); skips the calling test
    without it, or fails it when CI requires it."""
    found = shutil.which(command) or shutil.which(command, path="/usr/sbin")
    if found is None:
        skip_or_fail(f"{command} is not installed (Debian package {package}; `make test-tools` installs it)")
    return found


def promtool() -> str:
    return debian_tool("promtool", "prometheus")
