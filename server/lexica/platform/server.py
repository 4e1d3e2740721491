"""The HTTP server process: uvicorn (uvloop, httptools) with slow-client protection and a graceful shutdown.

- **Request-head deadline.** uvicorn has no option for it: `timeout_keep_alive` only covers the idle time between
  two requests and is reset by every byte received, so a client that trickles a request head holds its connection
  for ever (the "request start" timeout of uvicorn issue #157 was never implemented). `LexicaHttpProtocol` closes a
  connection whose request head is not complete `header_timeout` seconds after it opened or after its previous
  response ended (checked on the server's tick, every 0.1 s). (The request body has its own deadline:
  `lexica.platform.body_timeout`.)
- **Connection cap.** Past `max_connections` open connections in this process (or as many requests in flight),
  a request is answered `503` with `Retry-After` and the connection is closed — uvicorn's `limit_concurrency`,
  but with a problem document and the request id.
- **Graceful shutdown.** On SIGTERM (or SIGINT) `LexicaServer` first drains: the app's `Lifecycle` turns
  draining (readiness `503`, event streams end with `stream.reconnect`, WebSockets close with 1001), requests are
  still served for `drain_seconds` but every response says `Connection: close`; then uvicorn stops accepting,
  gives in-flight requests `timeout_graceful_shutdown` seconds, and runs the lifespan shutdown. A second signal
  skips the rest of the drain. The process exits 0.
- **Workers.** With more than one worker, `serve` runs its own small supervisor (uvicorn's creates plain
  `uvicorn.Server` instances, which would not drain); each worker drains on the SIGTERM the supervisor forwards.
  The supervisor gives the workers one directory for their metric files (`PROMETHEUS_MULTIPROC_DIR`, a fresh
  temporary one unless set), so that `/metrics` sums every worker's counts whichever worker answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from types import FrameType
from typing import Any, Literal

import uvicorn
from prometheus_client import multiprocess
from starlette.types import Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from lexica.platform.logs import configure_server_logging
from lexica.platform.metrics import MULTIPROCESS_DIR_VARIABLE
from lexica.platform.middleware import RequestIdMiddleware
from lexica.platform.problems import problem_response
from lexica.platform.running import running_of
from lexica.settings import Settings

logger = logging.getLogger("lexica.server")
RETRY_AFTER_SECONDS = 1


class LexicaConfig(uvicorn.Config):
    """uvicorn's configuration plus ours (picklable, so worker processes get it too)."""

    def __init__(
        self,
        app: Any,
        *,
        header_timeout: float,
        max_connections: int,
        drain_seconds: float,
        log_format: Literal["console", "json"] = "console",
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self.log_format: Literal["console", "json"] = log_format
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.drain_seconds = drain_seconds


async def _refuse_over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        503,
        "Service Unavailable",
        "This server is at its connection limit; try again shortly.",
        type_="/problems/over-capacity",
        instance=scope.get("raw_path", b"").decode("latin-1") or scope["path"],
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
    )
    await response(scope, receive, send)


OVER_CAPACITY_APP = RequestIdMiddleware(_refuse_over_capacity)


class LexicaHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline, our connection cap and drain behaviour."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout: float | None = getattr(config, "header_timeout", None)
        self.max_connections: int | None = getattr(config, "max_connections", None) or config.limit_concurrency
        self.limit_concurrency = None  # uvicorn's own check answers in plain text; `on_headers_complete` does it
        self.served_app = self.app
        # When the pending request head must have arrived (None: not waiting for one). One time comparison per
        # connection on the server's tick instead of a timer armed and cancelled per request (~4.6k instructions).
        self.head_deadline: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_headers_complete(self) -> None:
        self.head_deadline = None
        previous = self.cycle
        self.app = OVER_CAPACITY_APP if self._over_capacity() else self.served_app
        super().on_headers_complete()
        if self.cycle is not previous and self.draining:
            self.cycle.keep_alive = False  # served, but the response says `Connection: close`

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.timeout_keep_alive_task is not None:
            self._await_head()  # idle again: the next request head has the same deadline

    def drain(self) -> None:
        """The drain started: a response not yet sent will say `Connection: close`."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False

    @property
    def draining(self) -> bool:
        running = running_of(self.app_state)
        return running is not None and running.lifecycle.draining

    def _over_capacity(self) -> bool:
        cap = self.max_connections
        return cap is not None and (len(self.connections) > cap or len(self.tasks) >= cap)

    def _await_head(self) -> None:
        if self.header_timeout is not None:
            self.head_deadline = self.loop.time() + self.header_timeout

    def close_if_head_overdue(self, now: float) -> None:
        """Called on the server's tick (every 0.1 s): closes the connection when its request head is late."""
        if self.head_deadline is not None and now >= self.head_deadline:
            self.head_deadline = None
            if not self.transport.is_closing():
                # debug, not info: a slow-client attack must not turn into as many log lines
                logger.debug("closing a connection whose request head did not arrive in %g s", self.header_timeout)
                self.transport.close()


class LexicaServer(uvicorn.Server):
    """uvicorn's server, whose first SIGTERM/SIGINT drains before the usual graceful shutdown. A worker of a
    supervisor (`supervisor_pid`) also stops, the same way, when that supervisor is gone (killed with SIGKILL, say):
    it would otherwise go on serving on the shared socket with nobody to stop it."""

    def __init__(self, config: uvicorn.Config, *, supervisor_pid: int | None = None) -> None:
        super().__init__(config)
        self.supervisor_pid = supervisor_pid
        self.drain_seconds: float = getattr(config, "drain_seconds", 0.0)
        self.drain_requested = False
        self.drain_task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def on_tick(self, counter: int) -> bool:
        # uvicorn calls this every 0.1 s: request heads past their deadline are cut; once a second, a worker checks
        # that its supervisor is still its parent.
        if (
            self.supervisor_pid is not None
            and counter % 10 == 0
            and not self.drain_requested
            and os.getppid() != self.supervisor_pid
        ):
            logger.warning("the supervisor [%s] is gone: stopping", self.supervisor_pid)
            self.handle_exit(signal.SIGTERM, None)
        if self.loop is not None:
            now = self.loop.time()
            for connection in list(self.server_state.connections):
                if isinstance(connection, LexicaHttpProtocol):
                    connection.close_if_head_overdue(now)
        return await super().on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_requested or self.should_exit or self.loop is None:
            super().handle_exit(sig, frame)  # a second signal skips the rest of the drain
            return
        self.drain_requested = True
        # A signal handler runs in whatever context the loop was in (a request's, say): logged from an empty one,
        # the line carries no request id that is not its own.
        contextvars.Context().run(
            logger.info, "%s received: draining for %g s, then stopping", signal.Signals(sig).name, self.drain_seconds
        )
        if self.started:
            # A signal handler runs between two bytecodes of the loop's thread: hand the work to the loop.
            self.loop.call_soon_threadsafe(self._start_drain)
        # else `startup` starts the drain once the app is ready, so that nothing it accepts is cut off.

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.drain_requested and self.started:
            self._start_drain()

    def _start_drain(self) -> None:
        state: dict[str, Any] = getattr(getattr(self, "lifespan", None), "state", {})
        running = running_of(state)
        if running is not None:
            running.lifecycle.start_draining()
        for connection in list(self.server_state.connections):
            if isinstance(connection, LexicaHttpProtocol):
                connection.drain()
        self.drain_task = asyncio.get_running_loop().create_task(self._stop_after_drain())

    async def _stop_after_drain(self) -> None:
        await asyncio.sleep(self.drain_seconds)
        self.should_exit = True


def build_config(settings: Settings, app: str = "lexica.app:create_app", **options: Any) -> LexicaConfig:
    """The server configuration from the settings; `options` are further `uvicorn.Config` arguments."""
    return LexicaConfig(
        app,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http=LexicaHttpProtocol,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's own lines go through the process's handler too (configure_server_logging)
        access_log=False,
        proxy_headers=False,  # the app applies X-Forwarded-* itself, from LEXICA_FORWARDED_ALLOW_IPS (app.py)
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        header_timeout=settings.header_timeout_seconds,
        max_connections=settings.max_connections,
        drain_seconds=settings.effective_shutdown_drain_seconds,
        log_format=settings.effective_log_format,
        # A WebSocket frame is read whole before the app sees it: cap it near the app's own message limit (the
        # server closes a larger frame with 1009), and keep few unread messages queued per socket.
        ws_max_size=4 * settings.websocket_max_message_bytes,
        ws_max_queue=8,
        **options,
    )


def run(config: LexicaConfig) -> None:
    """Serve until SIGTERM/SIGINT (then drain and stop); exits with uvicorn's start-up failure code if it fails."""
    if config.workers > 1:
        _supervise(config)
        return
    server = LexicaServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _worker(config: LexicaConfig, sockets: list[socket.socket], supervisor_pid: int) -> None:
    config.configure_logging()
    level = config.log_level.upper() if isinstance(config.log_level, str) else config.log_level or logging.INFO
    configure_server_logging(level, config.log_format)  # as `lexica serve`
    server = LexicaServer(config, supervisor_pid=supervisor_pid)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _supervise(config: LexicaConfig) -> None:
    """Start `config.workers` processes on one socket; on SIGTERM/SIGINT forward SIGTERM once to each, wait for
    them all; replace a worker that dies; stop everything if one cannot start."""
    sock = config.bind_socket()
    context = multiprocessing.get_context("spawn")
    processes: list[multiprocessing.process.BaseProcess] = []
    signalled: set[int] = set()
    stopping = False

    def stop_all() -> None:
        for process in processes:
            if process.pid is not None and process.pid not in signalled and process.is_alive():
                signalled.add(process.pid)
                os.kill(process.pid, signal.SIGTERM)

    def on_signal(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        stop_all()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(config, [sock], os.getpid()), daemon=False)
        process.start()
        return process

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    failed = False
    metrics_dir = _metrics_dir()
    try:
        processes.extend(start() for _ in range(config.workers))
        while not stopping:
            time.sleep(0.25)
            for index, process in enumerate(processes):
                if stopping or process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("worker [%s] failed to start; stopping", process.pid)
                    stopping = failed = True
                    break
                logger.warning("worker [%s] exited with %s; starting another", process.pid, process.exitcode)
                _forget_worker_gauges(process.pid)
                processes[index] = start()
        stop_all()  # again: a worker started while the signal arrived has not been told yet
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if failed:
        sys.exit(STARTUP_FAILURE)


def _metrics_dir() -> str | None:
    """Give the workers a directory for their metric files (inherited through the environment); returns it when
    this supervisor made it (and removes it at the end). One an operator set is emptied: files from an earlier
    run would be summed with this one's (prometheus-client's multiprocess documentation asks for it)."""
    chosen = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if chosen:
        os.makedirs(chosen, exist_ok=True)
        for name in os.listdir(chosen):
            if name.endswith(".db"):
                os.remove(os.path.join(chosen, name))
        return None
    made = tempfile.mkdtemp(prefix="lexica-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = made
    return made


def _forget_worker_gauges(pid: int | None) -> None:
    """A dead worker's live gauges (entries cached) leave the sums; its counters stay counted."""
    if pid is not None and os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
