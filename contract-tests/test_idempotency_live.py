"""Idempotency-Key against a real uvicorn process: an anonymous upload with the header costs the server no memory.

Issue 9, defect 1: the middleware read the whole body into memory before the app answered 401, so a few
anonymous 60 MiB uploads grew the server by hundreds of megabytes. The server's peak resident size (VmHWM) is
read from /proc before and after concurrent anonymous uploads; it must grow by far less than one body.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import _server_env, _wait_until_ready, seed_database
from seed import SAMPLE_ENTRIES

from bench.services import free_port, stop

UPLOADS = 4
UPLOAD_BYTES = 48 * 1_048_576
CHUNK = b'{"headword": "x", "parts_of_speech": []}\n' * 6_000  # ~250 KB of valid NDJSON lines
MiB = 1_048_576

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/<pid>/status")


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(pid, port) of a bare uvicorn serving the app."""
    workdir = tmp_path_factory.mktemp("idempotency-live")
    env = _server_env(
        seed_database(workdir, SAMPLE_ENTRIES),
        {"LEXICA_SECRET_KEY": "idempotency-live-secret-key-long-enough", "LEXICA_RATE_LIMIT_ENABLED": "false"},
    )
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "lexica.app:create_app", "--factory", "--port", str(port)]
    with (workdir / "uvicorn.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        failure = _wait_until_ready(process, f"http://127.0.0.1:{port}", 30.0)
        if failure is not None:
            pytest.fail(f"uvicorn {failure}: {(workdir / 'uvicorn.log').read_text()[-2000:]}")
        yield process.pid, port
    finally:
        stop(process)


async def anonymous_upload(port: int, key: str) -> int:
    """POST an NDJSON body of UPLOAD_BYTES without credentials; stop sending once the server has answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /api/v1/imports HTTP/1.1\r\nHost: lexica.test\r\nContent-Type: application/x-ndjson\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {UPLOAD_BYTES}\r\n\r\n"
    )
    answered = asyncio.create_task(reader.readline())

    async def send_body() -> None:
        writer.write(head.encode())
        sent = 0
        while sent < UPLOAD_BYTES and not answered.done():
            piece = CHUNK[: UPLOAD_BYTES - sent]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)

    sender = asyncio.create_task(send_body())
    try:
        status_line = await asyncio.wait_for(answered, timeout=20)
    finally:
        sender.cancel()
        answered.cancel()
        writer.close()
        await asyncio.gather(sender, answered, writer.wait_closed(), return_exceptions=True)
    return int(status_line.split()[1])


async def test_anonymous_uploads_with_a_key_are_refused_without_buffering(server: tuple[int, int]) -> None:
    pid, port = server
    assert await anonymous_upload(port, "warm-up") == 401
    before = peak_rss(pid)
    statuses = await asyncio.gather(*(anonymous_upload(port, f"upload-{n}") for n in range(UPLOADS)))
    grown = peak_rss(pid) - before
    assert statuses == [401] * UPLOADS
    assert grown < 32 * MiB, f"the server's peak memory grew by {grown / MiB:.0f} MiB"
