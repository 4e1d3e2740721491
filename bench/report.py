"""The table `make bench` prints, and the lines under it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.wrk import WrkResult

NAME_WIDTH = 56
HEADER = f"{'server / scenario':{NAME_WIDTH}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'errors':>7}"


@dataclass(frozen=True)
class Row:
    name: str
    result: WrkResult
    ratio: float | None  # to the bare-ASGI baseline of the same run; None where it would compare unlike things

    def line(self) -> str:
        ratio = f"{self.ratio:6.2f}" if self.ratio is not None else f"{'-':>6}"
        numbers = f"{self.result.rps:9,.0f} {self.result.p50_ms:8.2f} {self.result.p99_ms:8.2f}"
        return f"{self.name:{NAME_WIDTH}} {numbers} {ratio} {self.result.errors:7d}"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # memory, hit ratio: one line each
    notes: list[str] = field(default_factory=list)  # how a number was obtained, or why it is missing

    @property
    def failed(self) -> list[Row]:
        return [row for row in self.rows if row.result.errors]

    def text(self) -> str:
        lines = [HEADER, *(row.line() for row in self.rows)]
        if self.facts:
            lines += ["", *self.facts]
        if self.notes:
            lines += ["", *(f"note: {note}" for note in self.notes)]
        for row in self.failed:
            lines.append(
                f"ERROR: {row.name}: {row.result.error_statuses} responses >= 400, "
                f"{row.result.socket_errors} socket errors or timeouts; its numbers do not measure the job"
            )
        return "\n".join(lines)
