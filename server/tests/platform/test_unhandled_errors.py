"""An exception no handler knows becomes a 500 problem with the request id, and the connection stays usable.

Served by a real uvicorn (httptools, as in production) in a thread: the defect was in how the server treats the
connection after the app raised, which an in-process transport cannot show.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from lexica.app import create_app
from tests.conftest import make_settings


class Boom(RuntimeError):
    pass


async def _raise(_: Request) -> Response:
    raise Boom("a failure nobody handles")


@pytest.fixture
def server_port(empty_database: str) -> Iterator[int]:
    """A test app (create_app plus one route that raises) served by uvicorn on a free port."""
    app = create_app(make_settings(empty_database))
    app.add_route("/test-only/raise", _raise, methods=["GET"])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http="httptools", log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_an_unhandled_error_is_a_500_problem_and_the_connection_stays_usable(
    server_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=5)
    try:
        with caplog.at_level(logging.ERROR, logger="lexica.errors"):
            connection.request("GET", "/test-only/raise", headers={"X-Request-ID": "trace-me-42"})
            failed = connection.getresponse()
            body = json.loads(failed.read())
        assert failed.status == 500
        assert failed.getheader("Content-Type") == "application/problem+json"
        assert failed.getheader("X-Request-ID") == "trace-me-42"
        assert failed.getheader("X-Content-Type-Options") == "nosniff"
        assert failed.getheader("Connection", "").lower() != "close"
        assert body["status"] == 500
        assert body["request_id"] == "trace-me-42"
        assert "a failure nobody handles" not in json.dumps(body)  # nothing internal leaks to the client

        connection.request("GET", "/health/live")  # the same keep-alive connection
        again = connection.getresponse()
        assert again.status == 200
        assert json.loads(again.read()) == {"status": "ok"}
    finally:
        connection.close()
    [record] = [r for r in caplog.records if r.name == "lexica.errors"]
    assert "trace-me-42" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is Boom


def test_every_problem_carries_the_request_id(server_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=5)
    try:
        connection.request("GET", "/api/v1/nothing-here")
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 404
    assert body["request_id"] == response.getheader("X-Request-ID")
