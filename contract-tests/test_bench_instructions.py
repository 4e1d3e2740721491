"""The instruction-count gates (`bench.instructions`): one cached lookup through the whole app, and through a whole
server process, may not cost more than 15% above the committed baseline. Need valgrind (and wrk); skipped without
them locally, a failure in CI (LEXICA_REQUIRE_SERVICES=1), where `make test-tools` installs them."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.instructions import BASELINE, TOLERANCE, measure, measure_server
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


@pytest.mark.slow
def test_a_whole_server_spends_no_more_instructions_per_cached_lookup_than_the_baseline_allows() -> None:
    """The same gate for a whole `lexica serve` process (protocol, app, access line): what the in-process count
    leaves out, such as an access line that cost as much as the rest of the lookup."""
    if shutil.which("valgrind") is None or shutil.which("wrk") is None:
        skip_or_fail("valgrind or wrk is not installed (make test-tools installs them)")
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))["server_instructions_per_request"]
    measured, bare = measure_server()
    assert bare < measured  # the bare app does less than Lexica: the counts are counts of the right processes
    assert measured <= baseline * (1 + TOLERANCE), (
        f"{measured:,} instructions per cached lookup in a whole server, {measured / baseline - 1:.0%} above the "
        f"baseline {baseline:,}: find what the server does more; if intended: python -m bench.instructions --update"
    )
