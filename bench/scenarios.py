"""What `make bench` measures: the reference apps (the same job on other servers and frameworks) and Lexica's
scenarios, each a named row of the table."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from bench.reference.entry import PATH as APPLE_PATH
from bench.servers import HOST, uvicorn_command
from bench.wrk import Rotation

LEXICA_READY_PATH = "/health/ready"


@dataclass(frozen=True)
class Reference:
    name: str
    target: str  # module:attribute of the ASGI app
    server: str = "uvicorn"

    def command(self, port: int) -> list[str]:
        if self.server == "granian":
            options = ["--interface", "asgi", "--host", HOST, "--port", str(port), "--workers", "1"]
            options += ["--runtime-threads", "1", "--loop", "uvloop", "--no-ws", "--log-level", "warning"]
            return [sys.executable, "-m", "granian", *options, self.target]
        return uvicorn_command(self.target, port)


BASELINE = Reference("bare ASGI, uvicorn (uvloop, httptools)", "bench.reference.bare:app")
REFERENCES = [
    Reference("bare ASGI, granian", "bench.reference.bare:app", server="granian"),
    Reference("BlackSheep, minimal route", "bench.reference.blacksheep_app:app"),
    Reference("Starlette, minimal route", "bench.reference.starlette_app:app"),
    Reference("Litestar, msgspec Struct", "bench.reference.litestar_app:app"),
    Reference("FastAPI, response_model", "bench.reference.fastapi_app:app"),
]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    rotation: Rotation | None = None  # each request's path from the headword list instead of `path`
    status: int = 200


CACHED_LOOKUP = Scenario("Lexica: entry lookup, cached", APPLE_PATH)
CONDITIONAL_LOOKUP = Scenario("Lexica: entry lookup, 304 (If-None-Match)", APPLE_PATH, status=304)
# One instance, default settings: the hot path and the in-process caches of listing pages and searches.
LEXICA_SCENARIOS = [
    CACHED_LOOKUP,
    CONDITIONAL_LOOKUP,  # its If-None-Match header is the ETag the server gives at the time
    Scenario("Lexica: headword page", "/api/v1/words?prefix=appl&limit=20"),
    Scenario("Lexica: search, prefix", "/api/v1/search?q=appl&mode=prefix"),
    Scenario("Lexica: search, fuzzy", "/api/v1/search?q=aple&mode=fuzzy"),
    Scenario("Lexica: liveness", "/health/live"),
]
# Also on that instance, last: it fills the entry cache, and its hit ratio is the server's.
ZIPF_LOOKUP = Scenario("Lexica: entry lookup, Zipf(s=1) over all headwords", APPLE_PATH, rotation="zipf")
# A second instance with LEXICA_ENTRY_CACHE_SIZE=0, every request a different headword: each one a storage read.
UNCACHED_LOOKUP = Scenario("Lexica: entry lookup, uncached (cache size 0)", APPLE_PATH, rotation="cycle")
# The cached lookup again on an instance with LEXICA_LOG_LEVEL=warning: what the access log costs.
QUIET_LOOKUP = Scenario("Lexica, access log off: cached lookup", APPLE_PATH)
# The same app on granian (one worker, one runtime thread), which the reference rows put ahead of uvicorn.
GRANIAN_LOOKUP = Scenario("Lexica on granian: cached lookup", APPLE_PATH)
# Two workers (and Redis, which more than one worker needs), wrk unpinned with 128 connections on two threads.
WHOLE_BOX = Scenario("Lexica, whole box (2 workers, 128 conn): cached lookup", APPLE_PATH)

# Not a wrk row: the delay before an edit made through one instance is served by another (bench/coherence.py).
COHERENCE_NAME = "Lexica: coherence delay across instances"
# Not a wrk row: reads of a cached entry every 20 ms while GCIDE imports run, in both job modes (bench/job_stall.py).
JOB_STALL_NAME = "Lexica: reads while imports run (embedded and Redis modes)"
# Not a wrk row: reverse lookup's recall@10 and latency over all definitions, SQLite and PostgreSQL (meaning_eval).
REVERSE_LOOKUP_NAME = "Lexica: reverse lookup (recall@10, p50, p99) on SQLite and PostgreSQL"

ALL_NAMES = [
    BASELINE.name,
    *(reference.name for reference in REFERENCES),
    *(scenario.name for scenario in LEXICA_SCENARIOS),
    ZIPF_LOOKUP.name,
    UNCACHED_LOOKUP.name,
    QUIET_LOOKUP.name,
    GRANIAN_LOOKUP.name,
    WHOLE_BOX.name,
    COHERENCE_NAME,
    JOB_STALL_NAME,
    REVERSE_LOOKUP_NAME,
]
