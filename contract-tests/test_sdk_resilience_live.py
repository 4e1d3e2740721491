"""The SDK against a real server that refuses, restarts and drops: walks of every headword under a letter survive
the server's quota (429 + `Retry-After`) and a restart in the middle, with the client's default settings."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from seed import letter_entries, seed_entries
from serve_process import free_port, serve_env

from lexica.words.keys import lookup_key
from lexica_client import APIConnectionError, Lexica

SECRET = "sdk-resilience-secret-key-long-enough-for-every-check"  # cursors stay valid across restarts


@pytest.fixture(scope="module")
def s_entries() -> list[str]:
    """Every real GCIDE headword whose key starts with "s", in the API's order."""
    headwords = {entry.headword for entry in letter_entries("S") if entry.key.startswith("s")}
    return sorted(headwords, key=lookup_key)


@pytest.fixture(scope="module")
def s_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sdk-resilience-db') / 'lexica.sqlite3'}"
    asyncio.run(seed_entries(url, letter_entries("S")))
    return url


class Server:
    """`lexica serve` on a fixed port, which the test may stop and start again."""

    def __init__(self, database_url: str, workdir: Path, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = serve_env(database_url, self.port, {"LEXICA_SECRET_KEY": SECRET, **extra_env})
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "lexica.cli", "serve", "--no-load-dictionary"]
        with (self._workdir / f"serve-{self.starts}.log").open("wb") as log:
            self._process = subprocess.Popen(command, cwd=self._workdir, env=self._env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            assert self._process.poll() is None, (self._workdir / f"serve-{self.starts}.log").read_text()
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@contextmanager
def serving(database_url: str, workdir: Path, **extra_env: str) -> Iterator[Server]:
    server = Server(database_url, workdir, dict(extra_env))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def retries_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="lexica_client")
    return caplog


@pytest.mark.slow
def test_an_anonymous_walk_of_every_s_headword_outlasts_the_default_quota(
    s_database: str, s_entries: list[str], tmp_path: Path, retries_logged: pytest.LogCaptureFixture
) -> None:
    """Pages of 20 (the default) make ~{len/20} requests: more than the default 300 a minute for anonymous
    callers, so the walk meets 429s; the client waits as `Retry-After` says and walks on to the end."""
    assert len(s_entries) / 20 > 300
    with serving(s_database, tmp_path) as server, Lexica(server.base_url) as lexica:
        walked = [item.headword for item in lexica.list_words("s")]
    assert walked == s_entries
    waits = [r for r in retries_logged.records if "status 429" in r.getMessage()]
    assert waits, "the walk never met the quota: this test proves nothing"


def test_a_tight_quota_costs_a_walk_time_not_an_exception(
    s_database: str, s_entries: list[str], tmp_path: Path, retries_logged: pytest.LogCaptureFixture
) -> None:
    with (
        serving(s_database, tmp_path, LEXICA_RATE_LIMIT_ANONYMOUS="40/second") as server,
        Lexica(server.base_url) as lexica,
    ):
        walked = list(lexica.iter_words("s", page_size=50))
    assert walked == s_entries
    assert any("status 429" in r.getMessage() for r in retries_logged.records)


def test_a_walk_goes_on_across_a_server_restart(s_database: str, s_entries: list[str], tmp_path: Path) -> None:
    """The pooled keep-alive connection dies with the server; the next page is fetched again on a new one."""
    with serving(s_database, tmp_path) as server, Lexica(server.base_url) as lexica:
        walked: list[str] = []
        for number, page in enumerate(lexica.list_words("s", limit=100).iter_pages()):
            walked += [item.headword for item in page.items]
            if number in (3, 40):
                server.stop()
                server.start()
        assert server.starts == 3
    assert walked == s_entries


def test_a_walk_cut_by_an_outage_resumes_where_it_stopped(
    s_database: str, s_entries: list[str], tmp_path: Path
) -> None:
    with serving(s_database, tmp_path) as server, Lexica(server.base_url, max_retries=1) as lexica:
        walked: list[str] = []
        page = lexica.list_words("s", limit=100)

        def walk() -> None:
            for item in page:
                walked.append(item.headword)
                if len(walked) == 250:
                    server.stop()  # down for longer than the retries wait

        with pytest.raises(APIConnectionError):
            walk()
        assert len(walked) == 300  # the third page was yielded whole; fetching the fourth failed
        server.start()
        walked += [item.headword for item in lexica.list_words("s", limit=100, cursor=page.resume_cursor)]
    assert walked == s_entries


def test_a_walk_waits_out_an_outage_with_more_retries(s_database: str, s_entries: list[str], tmp_path: Path) -> None:
    """With `max_retries=8` (about 40 s of backoff) requests refused while the server restarts cost no exception:
    the walk asks for its next page while the server is down, and gets it once the server is back."""
    with serving(s_database, tmp_path) as server, Lexica(server.base_url, max_retries=8) as lexica:
        pages = lexica.list_words("s", limit=100).iter_pages()
        walked = [item.headword for item in next(pages).items]
        server.stop()
        restart = threading.Timer(1.0, server.start)
        restart.start()
        try:
            for page in pages:  # the first of these is refused until the timer has restarted the server
                walked += [item.headword for item in page.items]
        finally:
            restart.join()
        assert server.starts == 2
    assert walked == s_entries
