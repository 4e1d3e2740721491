"""How long an edit made through one instance takes to be served by another: `make bench`'s coherence delay.

Two `lexica serve` instances over one copy of the bench's database and a private Redis (the `entries` topic carries
the change). For each of a few headwords: read it through B (so B caches it), patch it through A with `If-Match`,
then ask B every millisecond until it serves the new ETag. The delay runs from A's answer to B's first new answer.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import httpx

HEADWORDS = ("apple", "river", "stone", "light", "house", "water", "bread", "cloud", "field", "tiger")
GIVE_UP_SECONDS = 10.0
ADMIN = ("bench-admin@lexica.test", "Bench-Lantern-47-Orchard")


@dataclass(frozen=True)
class CoherenceDelay:
    delays_ms: list[float]

    def line(self) -> str:
        return (
            f"coherence delay across instances (an edit through A, served by B; {len(self.delays_ms)} edits): "
            f"median {statistics.median(self.delays_ms):.1f} ms, max {max(self.delays_ms):.1f} ms"
        )


def measure(a_url: str, b_url: str) -> CoherenceDelay:
    with httpx.Client(base_url=a_url, timeout=10.0) as a, httpx.Client(base_url=b_url, timeout=10.0) as b:
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        signed_in = a.post("/api/v1/auth/token", data=form)
        signed_in.raise_for_status()
        admin = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        return CoherenceDelay([_edit_delay_ms(a, b, admin, headword) for headword in HEADWORDS])


def _edit_delay_ms(a: httpx.Client, b: httpx.Client, admin: dict[str, str], headword: str) -> float:
    path = f"/api/v1/words/{headword}"
    b.get(path).raise_for_status()  # cached on B
    current = a.get(path, headers={"Cache-Control": "no-cache"})
    current.raise_for_status()
    parts = current.json()["parts_of_speech"]
    parts[0]["definitions"][0]["text"] += " (edited by make bench)"
    edited = a.patch(
        path,
        json={"parts_of_speech": parts},
        headers={**admin, "If-Match": current.headers["ETag"], "Content-Type": "application/merge-patch+json"},
    )
    edited.raise_for_status()
    answered = time.perf_counter()
    new_etag = edited.headers["ETag"]
    while time.perf_counter() - answered < GIVE_UP_SECONDS:
        if b.get(path).headers.get("ETag") == new_etag:
            return (time.perf_counter() - answered) * 1000
        time.sleep(0.001)
    raise RuntimeError(f"instance B still served the old {headword!r} {GIVE_UP_SECONDS:.0f} s after the edit")
