"""What the jobs this process ran came to: counts and durations by kind and final state, and how many run now.

Plain numbers, as `lexica.platform.request_tally` keeps for requests: the metrics (`lexica.platform.metrics`) copy
them at each scrape. Counted where a job runs — the API process with the in-process worker, else each
`lexica worker` (which serves them on `LEXICA_WORKER_METRICS_PORT`) — so that summing over instances and workers
counts every job once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from lexica.platform.observations import Observations

# From a small export (a tenth of a second) to a whole GCIDE import on a slow machine (minutes).
JOB_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# A job that ends without a final state of its own: its process stopped under it (run again elsewhere, or recorded
# failed by the in-process worker).
INTERRUPTED = "interrupted"


class JobTally:
    def __init__(self) -> None:
        self._running: Counter[str] = Counter()
        self._ended: dict[tuple[str, str], Observations] = {}

    def started(self, kind: str) -> None:
        self._running[kind] += 1

    def ended(self, kind: str, state: str, seconds: float) -> None:
        """The job of `kind` that `started` ended in `state` (succeeded, failed, cancelled, or INTERRUPTED)."""
        self._running[kind] -= 1
        durations = self._ended.get((kind, state))
        if durations is None:
            durations = self._ended[(kind, state)] = Observations(JOB_DURATION_BUCKETS)
        durations.add(seconds)

    def running(self) -> Mapping[str, int]:
        """Jobs running now in this process, by kind (each kind once seen, 0 when none runs)."""
        return dict(self._running)

    def ended_jobs(self) -> Iterator[tuple[tuple[str, str], Observations]]:
        """(kind, state) and what those jobs came to, since start-up."""
        return iter(list(self._ended.items()))
