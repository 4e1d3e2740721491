"""The database servers benchmarks and tests run against: fresh PostgreSQL databases on a server, and nx-27017
(a MongoDB wire-protocol server on SQLite, a dev dependency) started on a free port.

Used by the storage conformance suite, the live concurrency test and `make concurrency`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import redis
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_ADMIN_URL_ENV = "LEXICA_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MONGO_URL_ENV = "LEXICA_TEST_MONGO_URL"
NX_27017_START_SECONDS = 20
_LINGUISTIC = "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"


BACKENDS = ("sqlite", "postgresql", "mongodb")


class ServiceUnavailable(Exception):
    """The server is not there (or did not start); the message says why."""


REQUIRE_SERVICES_ENV = "LEXICA_REQUIRE_SERVICES"


def skip_or_fail(reason: str) -> NoReturn:
    """For a test whose server or program is missing: skip with `reason` locally, fail under
    LEXICA_REQUIRE_SERVICES=1 (CI, `.ci/run`), where a skip would hide a missing install step."""
    import pytest  # only tests call this: the benchmarks do not need pytest

    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{reason}. {REQUIRE_SERVICES_ENV}=1 requires it.")
    pytest.skip(reason)


def fresh_name() -> str:
    return f"lexica_test_{uuid.uuid4().hex[:12]}"


async def postgres_admin(admin_url: str, *statements: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_postgres_database(admin_url: str, name: str) -> None:
    try:
        await postgres_admin(admin_url, f'CREATE DATABASE "{name}" {_LINGUISTIC}')
    except DBAPIError:  # no ICU (or PostgreSQL < 15): the server's default collation will do
        await postgres_admin(admin_url, f'CREATE DATABASE "{name}"')


def shown(url: str) -> str:
    """The URL without credentials, for messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def with_database(server_url: str, name: str) -> str:
    """`server_url` (any credentials, hosts and options kept) naming database `name` in its path."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def mongo_ping(server_url: str, timeout_ms: int) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(
        server_url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_nx_27017(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nx-27017 on a free loopback port with its own data directory, log and pid file; its URL once it answers."""
    executable = Path(sys.executable).with_name("nx-27017")
    if not executable.exists():
        raise ServiceUnavailable(f"nx-27017 is not installed next to {sys.executable} (pip install -e '.[dev]')")
    port = free_port()
    log = workdir / "nx-27017.log"
    command = [str(executable), "--data-dir", str(workdir / "data"), "--host", "127.0.0.1", "-p", str(port)]
    command += ["--log-file", str(log), "--pid-file", str(workdir / "nx-27017.pid")]
    with (workdir / "nx-27017.out").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 - our own argv
    url = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + NX_27017_START_SECONDS
    while True:
        if process.poll() is not None:
            out = (workdir / "nx-27017.out").read_text(errors="replace")[-2000:]
            raise ServiceUnavailable(f"nx-27017 exited with code {process.returncode} on start: {out}")
        try:
            mongo_ping(url, timeout_ms=250)
            return process, url
        except PyMongoError as exc:
            if time.monotonic() > deadline:
                stop(process)
                raise ServiceUnavailable(
                    f"nx-27017 did not answer a ping on port {port} within {NX_27017_START_SECONDS}s ({exc})"
                ) from exc
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `grace` seconds; nothing if it has already exited."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def postgres_database_url(admin_url: str, name: str) -> str:
    """The admin URL with `name` as its database."""
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def drop_mongo_database(server_url: str, name: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(server_url, serverSelectionTimeoutMS=5_000)
    try:
        client.drop_database(name)
    finally:
        client.close()


@contextmanager
def empty_database(backend: str, workdir: Path) -> Iterator[str]:
    """The URL of a new, empty database of `backend` (SQLite file, PostgreSQL database, MongoDB database on the
    configured server or on an nx-27017 started for it); removed afterwards. ServiceUnavailable without the server."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'lexica.sqlite3'}"
        return
    name = fresh_name()
    if backend == "postgresql":
        admin_url = os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
        try:
            asyncio.run(create_postgres_database(admin_url, name))
        except (OSError, DBAPIError) as exc:
            raise ServiceUnavailable(f"PostgreSQL does not answer at {shown(admin_url)} ({exc})") from exc
        try:
            yield postgres_database_url(admin_url, name)
        finally:
            asyncio.run(postgres_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    if backend != "mongodb":
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    configured = os.environ.get(MONGO_URL_ENV)
    process = None
    if configured:
        server_url = configured
    else:
        process, server_url = start_nx_27017(workdir)
    try:
        yield with_database(server_url, name)
        drop_mongo_database(server_url, name)
    finally:
        if process is not None:
            stop(process)


class RedisServer:
    """A private `redis-server` on a free loopback port, for tests that kill and restart Redis (never the shared
    one): `start()`, `kill()` (SIGKILL, as an outage), `start()` again on the same port, `stop()`. `persistent`: an
    append-only file synced on every write, so that a restart keeps what was written (as a production Redis would)."""

    def __init__(self, workdir: Path, *, persistent: bool = False, arguments: Sequence[str] = ()) -> None:
        """`arguments`: more `redis-server` options (e.g. a command renamed away, so that it fails for real)."""
        self.port = free_port()
        self._arguments = list(arguments)
        self._persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServiceUnavailable("redis-server is not installed (Debian package redis-server)")
        command = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += [*self._persistence, "--dir", str(self._workdir), *self._arguments]
        with (self._workdir / f"redis-{self.port}.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our argv
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None

    def client(self) -> redis.Redis:
        """A synchronous client with short timeouts, for a test's own checks."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)


@contextmanager
def private_redis(workdir: Path, *, persistent: bool = False, arguments: Sequence[str] = ()) -> Iterator[RedisServer]:
    """A started `RedisServer`, stopped on exit."""
    server = RedisServer(workdir, persistent=persistent, arguments=arguments)
    server.start()
    try:
        yield server
    finally:
        server.kill()
