"""The instruction-count gate (`bench.instructions`): one cached lookup through the whole app may not cost more than
15% above the committed baseline. Needs valgrind; skipped without it locally, a failure in CI
(LEXICA_REQUIRE_SERVICES=1), where `make test-tools` installs it."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.instructions import BASELINE, TOLERANCE, measure
from bench.services import skip_or_fail


@pytest.mark.slow
def test_a_cached_lookup_costs_no_more_instructions_than_the_baseline_allows() -> None:
    if shutil.which("valgrind") is None:
        skip_or_fail("valgrind is not installed (make test-tools installs it)")
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))["instructions_per_lookup"]
    measured = measure().instructions_per_lookup
    assert measured <= baseline * (1 + TOLERANCE), (
        f"{measured:,} instructions per cached lookup, {measured / baseline - 1:.0%} above the baseline {baseline:,}: "
        "find what the hot path does more, or if it is intended, `python -m bench.instructions --update`"
    )
