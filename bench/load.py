"""A small keep-alive HTTP/1.1 load generator for loopback benchmarks.

Hand-written because the usual tools (wrk, oha) are not Python packages and so cannot be installed by the
project's own files; this one is enough to saturate one uvicorn worker from the other core.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            status = await _read_response(reader)
            counts[0 if status < 400 else 1] += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def run_load(host: str, port: int, path: str, *, seconds: float, connections: int) -> LoadResult:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("benchmarks only target the loopback interface")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode()
    counts = [0, 0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(host, port, request, deadline, counts) for _ in range(connections)))
    return LoadResult(requests=counts[0], errors=counts[1], seconds=time.perf_counter() - started)
