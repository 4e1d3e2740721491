"""Settings of the server process: several workers need Redis; the drain after SIGTERM depends on the environment."""

from __future__ import annotations

import asyncio
import logging
import signal

import pytest
from pydantic import ValidationError

from lexica.platform.context import RequestContext, set_request_context
from lexica.platform.json_logs import RequestFields
from lexica.platform.server import LexicaHttpProtocol, LexicaServer, build_config
from lexica.settings import Settings


def test_several_workers_without_redis_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="LEXICA_WORKERS=2 needs LEXICA_REDIS_URL"):
        Settings(workers=2, redis_url=None)


def test_several_workers_with_redis_are_accepted() -> None:
    assert Settings(workers=2, redis_url="redis://127.0.0.1:6379/0").workers == 2


@pytest.mark.parametrize(
    ("environment", "configured", "drain"),
    [("production", None, 5.0), ("development", None, 0.0), ("test", None, 0.0), ("development", 2.5, 2.5)],
)
def test_the_drain_lasts_long_enough_in_production_only(
    environment: str, configured: float | None, drain: float
) -> None:
    settings = Settings(
        environment=environment,
        shutdown_drain_seconds=configured,
        secret_key="a-production-secret-key-of-at-least-32-characters",
    )
    assert settings.effective_shutdown_drain_seconds == drain


def test_the_server_configuration_carries_the_deadlines_cap_and_drain() -> None:
    settings = Settings(
        header_timeout_seconds=3,
        max_connections=7,
        shutdown_drain_seconds=2,
        shutdown_grace_seconds=9,
    )
    config = build_config(settings)
    assert config.http is LexicaHttpProtocol
    assert (config.header_timeout, config.max_connections, config.drain_seconds) == (3, 7, 2)
    assert config.timeout_graceful_shutdown == 9
    assert LexicaServer(config).drain_seconds == 2


def test_websocket_frames_are_capped_near_the_apps_message_limit() -> None:
    config = build_config(Settings(websocket_max_message_bytes=16_384))
    assert config.ws_max_size == 65_536  # uvicorn's default (16 MiB) would be read whole before the app's check
    assert config.ws_max_queue == 8


def test_the_drain_is_logged_without_the_request_id_of_whatever_was_running(caplog: pytest.LogCaptureFixture) -> None:
    """SIGTERM's handler runs in the context of the code it interrupts; its line named that request's id."""
    server = LexicaServer(build_config(Settings(environment="test")))
    server.loop = asyncio.new_event_loop()  # as `serve` sets it; not started, so the drain itself waits for startup
    set_request_context(RequestContext(request_id="a-request-that-was-running", client_ip="127.0.0.1"))
    caplog.handler.addFilter(RequestFields())  # as the server's handler has it
    with caplog.at_level(logging.INFO, logger="lexica.server"):
        server.handle_exit(signal.SIGTERM, None)
    server.loop.close()
    (record,) = [r for r in caplog.records if "draining" in r.getMessage()]
    assert getattr(record, "request_id", None) is None
