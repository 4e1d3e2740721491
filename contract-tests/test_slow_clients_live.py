"""Slow clients cannot hold the server: a request head or body that stops arriving is cut off within its
deadline, and past the connection cap requests are refused with a problem, while a normal client is served.

Against `lexica serve` (the production entry point) with 1-second deadlines.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import seed_database
from seed import SAMPLE_ENTRIES
from serve_process import Served, run_lexica_serve

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 120
SLOW_CLIENTS = 50  # of each kind
SLACK = 1.5  # seconds allowed beyond a deadline on a busy machine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    database_url = seed_database(tmp_path_factory.mktemp("slow-clients-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "LEXICA_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "LEXICA_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    with run_lexica_serve(database_url, tmp_path_factory.mktemp("slow-clients-api"), extra_env=env) as served:
        yield served


def _connect(served: Served, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes | None:
    """Everything the server sends until it closes the connection; None if it is still open at `deadline`."""
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_half_sent_heads_and_bodies_are_cut_off_while_others_are_served(server: Served) -> None:
    started = time.monotonic()
    half_heads = [_connect(server, b"GET /health/live HTTP/1.1\r\nHost: slow\r\nX-Slow: ") for _ in range(SLOW_CLIENTS)]
    half_bodies = [
        _connect(
            server,
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": ',
        )
        for _ in range(SLOW_CLIENTS)
    ]
    try:
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            asked = time.monotonic()
            normal = http.get("/api/v1/words/apple")
            waited = time.monotonic() - asked
        assert normal.status_code == 200
        assert waited < HEADER_TIMEOUT, f"a normal client waited {waited:.2f} s, as if behind the slow ones"

        deadline = started + max(HEADER_TIMEOUT, BODY_TIMEOUT) + SLACK
        heads = [_read_until_closed(sock, deadline) for sock in half_heads]
        bodies = [_read_until_closed(sock, deadline) for sock in half_bodies]
    finally:
        for sock in half_heads + half_bodies:
            sock.close()
    assert heads.count(None) == 0, f"{heads.count(None)} connections with a half-sent head still open"
    assert bodies.count(None) == 0, f"{bodies.count(None)} connections with a half-sent body still open"
    for answer in bodies:
        assert answer is not None
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
        lowered = head.lower()
        assert b"content-type: application/problem+json" in lowered
        assert b"connection: close" in lowered
        assert b"x-request-id: " in lowered
        assert b'"status":408' in body


def test_requests_past_the_connection_cap_are_refused_with_a_problem(server: Served) -> None:
    idle = [_connect(server, b"") for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # the server accepts them
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            refused = http.get("/api/v1/words/apple")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["connection"] == "close"
        assert refused.headers["x-request-id"]
        assert refused.json()["status"] == 503
        # The idle connections never sent a request head: the deadline frees their places.
        deadline = time.monotonic() + HEADER_TIMEOUT + SLACK
        still_open = [_read_until_closed(sock, deadline) for sock in idle].count(None)
        assert still_open == 0
    finally:
        for sock in idle:
            sock.close()
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        assert http.get("/api/v1/words/apple").status_code == 200
