"""promtool, from Debian's `prometheus` package (`make test-tools` installs it): the tests that need it skip without
it locally and fail in CI (LEXICA_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil

import pytest


def promtool() -> str:
    """promtool's path; skips the calling test without it, or fails it when CI requires it."""
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (Debian package prometheus; `make test-tools` installs it)"
        if os.environ.get("LEXICA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; LEXICA_REQUIRE_SERVICES=1 requires it")
        pytest.skip(reason)
    return found
