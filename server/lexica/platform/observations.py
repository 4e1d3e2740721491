"""Many timings kept as a histogram in plain numbers, which a metrics mirror copies into prometheus-client at each
scrape (`lexica.platform.metrics`): no lock and no library call where the timing is taken."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class Observations:
    """How many, their seconds in all, and how many per bucket (non-cumulative; the last bucket is +Inf)."""

    __slots__ = ("bounds", "buckets", "count", "seconds")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(self.bounds) + 1)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.buckets[bisect.bisect_left(self.bounds, seconds)] += 1
