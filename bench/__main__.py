"""`make bench`: each scenario against a single uvicorn worker, as a ratio of the bare-ASGI baseline."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.load import run_load

SCENARIOS = [
    ("entry lookup (cached)", "/api/v1/words/apple"),
    ("entry lookup, slash", "/api/v1/words/24%2F7"),
    ("headword page", "/api/v1/words?prefix=appl&limit=20"),
    ("search, prefix", "/api/v1/search?q=appl"),
    ("search, fuzzy", "/api/v1/search?q=aple"),
    ("liveness", "/health/live"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(target: list[str], env: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port),
               "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env=env)  # noqa: S603 - fixed argument list
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with code {process.returncode} during start-up")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start within 60 s")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    env = dict(os.environ)
    # The limiter stays on, as in production, with a quota no benchmark reaches: its cost is measured too.
    env.setdefault("LEXICA_RATE_LIMIT_ANONYMOUS", "100000000/minute")
    subprocess.run([sys.executable, "-m", "lexica.cli", "import", "gcide", "--if-empty"], check=True, env=env)

    def measure(port: int, path: str) -> float:
        asyncio.run(run_load("127.0.0.1", port, path, seconds=1.0, connections=args.connections))  # warm-up
        result = asyncio.run(run_load("127.0.0.1", port, path, seconds=args.seconds, connections=args.connections))
        if result.errors:
            raise RuntimeError(f"{path}: {result.errors} error responses")
        return result.rps

    with _server(["bench.baseline:app"], env) as port:
        baseline = measure(port, "/")
    print(f"{'scenario':28} {'req/s':>9} {'ratio':>7}")
    print(f"{'bare ASGI baseline':28} {baseline:9.0f} {1.0:7.2f}")
    with _server(["lexica.app:create_app", "--factory"], env) as port:
        for name, path in SCENARIOS:
            rps = measure(port, path)
            print(f"{name:28} {rps:9.0f} {rps / baseline:7.2f}")


if __name__ == "__main__":
    main()
