"""The SDK's WebSocket client (`lexica_client.realtime`) against real server processes: typed events on list,
entry and job topics; subscriptions the server refuses or ends; credentials refused, or replaced by `auth_headers`;
reconnecting and subscribing again after the server stops (drained or killed) or refuses a socket over the cap."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, closing, contextmanager
from pathlib import Path

import pytest
from conftest import run_live_server, seed_database
from sdk_helpers import ALL_HEADWORDS, PASSWORD, entry_json, jobs_api_key, new_jobs_reader
from seed import SAMPLE_ENTRIES
from serve_process import Served, free_port, run_lexica_serve
from websockets.asyncio.client import connect

from lexica_client import AsyncLexica
from lexica_client.events import (
    EntryChange,
    EntryChanged,
    ErrorCode,
    ErrorMessage,
    ImportResult,
    JobFinished,
    JobProgress,
    ListChange,
    ListChanged,
)
from lexica_client.realtime import (
    Event,
    Realtime,
    RealtimeAuthError,
    ReconnectPolicy,
    SubscriptionError,
    http_auth_headers,
    ws_url,
)

ADMIN_EMAIL = "sdk-realtime-admin@lexica.test"
SECRET_KEY = "sdk-realtime-secret-key-long-enough-for-every-check"
WAIT_SECONDS = 10.0  # for any one message, reply or reconnection
SOCKETS_PER_USER = 2
DATABASE_FILE = "lexica.sqlite3"  # the file `seed_database` makes
QUICK = ReconnectPolicy(attempts=50, initial_delay=0.05, max_delay=0.3, busy_delay=0.2)
RESTART_ENV = {
    "LEXICA_SECRET_KEY": SECRET_KEY,
    "LEXICA_RATE_LIMIT_ENABLED": "false",
    "LEXICA_SHUTDOWN_DRAIN_SECONDS": "0.2",
    "LEXICA_SHUTDOWN_GRACE_SECONDS": "1",
}
# Would make a test that expects no reconnection time out if the client tried one.
NEVER_SOON = ReconnectPolicy(attempts=1, initial_delay=60.0, max_delay=60.0, busy_delay=60.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database_url = seed_database(tmp_path_factory.mktemp("sdk-realtime-db"), SAMPLE_ENTRIES)
    env = {
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
        "LEXICA_FIRST_ADMIN_PASSWORD": PASSWORD,
        "LEXICA_SECRET_KEY": SECRET_KEY,
        "LEXICA_RATE_LIMIT_ENABLED": "false",
        "LEXICA_WEBSOCKET_MAX_CONNECTIONS_PER_USER": str(SOCKETS_PER_USER),
        "LEXICA_WEBSOCKET_REAUTH_SECONDS": "0.5",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("sdk-realtime-server"), extra_env=env) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def admin_key(server: str) -> str:
    return jobs_api_key(server, ADMIN_EMAIL)


@pytest.fixture(scope="module")
def owner_key(server: str) -> str:
    return new_jobs_reader(server)


@pytest.fixture(scope="module")
def stranger_key(server: str) -> str:
    return new_jobs_reader(server)


@pytest.fixture
async def owner(server: str, owner_key: str) -> AsyncIterator[AsyncLexica]:
    async with AsyncLexica(server, api_key=owner_key) as client:
        yield client


async def _next_message(realtime: Realtime) -> Event:
    async with asyncio.timeout(WAIT_SECONDS):
        return await anext(realtime)


@contextmanager
def _logged(text: str) -> Iterator[asyncio.Event]:
    """An event set when the client logs a record containing `text`."""
    seen = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if text in record.getMessage():
                seen.set()

    handler = Watch()
    logging.getLogger("lexica_client").addHandler(handler)
    try:
        yield seen
    finally:
        logging.getLogger("lexica_client").removeHandler(handler)


def test_http_base_urls_become_websocket_urls() -> None:
    assert ws_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/api/v1/ws"
    assert ws_url("https://example.com/lexica/") == "wss://example.com/lexica/api/v1/ws"
    with pytest.raises(ValueError, match="not an http"):
        ws_url("ftp://example.com")


async def test_list_change_arrives_as_typed_list_changed(server: str, owner_key: str, owner: AsyncLexica) -> None:
    created = await owner.create_list("Watched")
    topic = f"list:{created.value.id}"
    async with Realtime(server, api_key=owner_key, topics=[topic]) as realtime:
        assert realtime.topics == {topic}
        await owner.add_words(created.value.id, ["apple"], etag=created.etag)
        message = await _next_message(realtime)
    assert isinstance(message, ListChanged)
    assert (message.topic, message.list_id) == (topic, created.value.id)
    assert (message.change, message.version) == (ListChange.WORDS_ADDED, 2)


async def test_deleted_list_ends_its_subscription(server: str, owner_key: str, owner: AsyncLexica) -> None:
    created = await owner.create_list("Short-lived")
    topic = f"list:{created.value.id}"
    async with Realtime(server, api_key=owner_key, topics=[topic, "entries"]) as realtime:
        await owner.delete_list(created.value.id, etag=created.etag)
        message = await _next_message(realtime)
        assert isinstance(message, ListChanged)
        assert (message.change, message.version) == (ListChange.DELETED, None)
        assert realtime.topics == {"entries"}  # not subscribed again after a reconnect


async def test_list_made_private_ends_a_readers_subscription_with_error_message(
    server: str, stranger_key: str, owner: AsyncLexica
) -> None:
    created = await owner.create_list("Public for now", public=True)
    topic = f"list:{created.value.id}"
    async with Realtime(server, api_key=stranger_key, topics=[topic]) as realtime:
        await owner.update_list(created.value.id, etag=created.etag, public=False)
        message = await _next_message(realtime)
        assert realtime.topics == set()
    assert isinstance(message, ErrorMessage)
    assert message.code == ErrorCode.ACCESS_ENDED
    assert message.topic is not None
    assert message.topic.root == topic


async def test_entry_edit_arrives_on_entries_topic(server: str, admin_key: str) -> None:
    headword = f"realtime {uuid.uuid4().hex[:8]}"
    async with (
        AsyncLexica(server, api_key=admin_key) as admin,
        Realtime(server, api_key=admin_key, topics=["entries"]) as realtime,
    ):
        await admin.words.create(entry_json(headword))
        message = await _next_message(realtime)
    assert isinstance(message, EntryChanged)
    assert (message.headword, message.change, message.version) == (headword, EntryChange.CREATED, 1)


async def test_another_users_private_list_is_refused_with_typed_error(
    server: str, stranger_key: str, owner: AsyncLexica
) -> None:
    private = f"list:{(await owner.create_list('Private')).value.id}"
    with pytest.raises(SubscriptionError) as refused:
        async with Realtime(server, api_key=stranger_key, topics=[private]):
            pass
    assert (refused.value.code, refused.value.topics) == (ErrorCode.UNKNOWN_TOPIC, (private,))

    async with Realtime(server, api_key=stranger_key, topics=["entries"]) as realtime:
        with pytest.raises(SubscriptionError):
            await realtime.subscribe(private, "entries")
        assert realtime.topics == {"entries"}  # all or nothing: the refusal changed nothing
        async with asyncio.timeout(WAIT_SECONDS):
            assert await realtime.ping() >= 0  # and the connection still serves


async def test_unknown_api_key_raises_auth_error_without_reconnecting(server: str) -> None:
    with pytest.raises(RealtimeAuthError, match="HTTP 403"):
        async with asyncio.timeout(WAIT_SECONDS), Realtime(server, api_key="lx_not_a_key", reconnect=NEVER_SOON):
            pass


async def test_revoked_api_key_ends_the_stream_with_auth_error(server: str) -> None:
    key = await asyncio.to_thread(new_jobs_reader, server)
    async with (
        AsyncLexica(server, api_key=key) as lexica,
        Realtime(server, api_key=key, topics=["entries"], reconnect=NEVER_SOON) as realtime,
    ):
        async for api_key in await lexica.users.list_api_keys():
            await lexica.users.revoke_api_key(str(api_key.id))
        with pytest.raises(RealtimeAuthError) as ended:
            await _next_message(realtime)
    assert ended.value.code == 4401


async def test_ended_credentials_reconnect_when_auth_headers_give_new_ones(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lexica_client")
    key = await asyncio.to_thread(new_jobs_reader, server)
    sent = {"X-API-Key": key}
    async with AsyncLexica(server, api_key=key) as lexica:
        created = await lexica.create_list("Followed across keys")
        replacement = await lexica.users.create_api_key({"name": "replacement"})
        topic = f"list:{created.value.id}"
        async with Realtime(server, auth_headers=lambda: sent, topics=[topic], reconnect=QUICK) as realtime:
            with _logged("closed with 4401") as ended, _logged(f"connected again, subscribed to {topic}") as back:
                sent = {"X-API-Key": replacement.key}
                async for api_key in await lexica.users.list_api_keys():
                    if api_key.id != replacement.id:
                        await lexica.users.revoke_api_key(str(api_key.id))
                async with asyncio.timeout(WAIT_SECONDS):
                    await ended.wait()
                    await back.wait()
            async with AsyncLexica(server, api_key=replacement.key) as replaced:
                await replaced.add_words(created.value.id, ["apple"], etag=created.etag)
            message = await _next_message(realtime)
    assert isinstance(message, ListChanged)
    assert (message.topic, message.change) == (topic, ListChange.WORDS_ADDED)


async def test_job_topic_yields_progress_then_finished_with_client_credentials(server: str) -> None:
    async with AsyncLexica(server) as admin:
        await admin.sign_in(ADMIN_EMAIL, PASSWORD)  # a bearer token, sent by the client's own auth
        job = await admin.import_entries([entry_json(f"realtime job {n}") for n in range(3)])
        headers = http_auth_headers(admin.api_client.get_async_httpx_client())
        async with Realtime(server, auth_headers=headers, topics=[f"job:{job.id}"]) as realtime:
            messages = [await _next_message(realtime)]
            while not isinstance(messages[-1], JobFinished):
                messages.append(await _next_message(realtime))
            assert realtime.topics == set()  # a finished job has nothing more to say
    *progress, finished = messages
    assert progress
    assert all(isinstance(message, JobProgress) and message.job_id == job.id for message in progress)
    assert isinstance(finished, JobFinished)
    assert finished.result == ImportResult(inserted=3, updated=0, unchanged=0, skipped=0, skipped_edited=0)


async def test_socket_over_the_per_user_cap_backs_off_then_connects(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lexica_client")
    key = await asyncio.to_thread(new_jobs_reader, server)
    realtime = Realtime(server, api_key=key, topics=["entries"], reconnect=QUICK)
    async with AsyncExitStack() as hogs:
        for _ in range(SOCKETS_PER_USER):
            await hogs.enter_async_context(connect(ws_url(server), additional_headers={"X-API-Key": key}))
        refused = hogs.enter_context(_logged("closed with 4429"))
        entering = asyncio.create_task(realtime.__aenter__())
        async with asyncio.timeout(WAIT_SECONDS):
            await refused.wait()
        assert not entering.done()
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await entering
        assert realtime.topics == {"entries"}
    finally:
        await realtime.aclose()


@pytest.mark.parametrize(
    ("stop", "close_code"), [(signal.SIGTERM, 1001), (signal.SIGKILL, 1006)], ids=["drained", "killed"]
)
async def test_client_resubscribes_after_server_restart_and_receives_later_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, stop: signal.Signals, close_code: int
) -> None:
    caplog.set_level(logging.INFO, logger="lexica_client")
    database_url = await asyncio.to_thread(seed_database, tmp_path, SAMPLE_ENTRIES)
    port = free_port()
    with ExitStack() as servers:

        def serve(name: str) -> Served:
            """`lexica serve` on `port`, over the same database each time (blocking: run it in a thread)."""
            workdir = tmp_path / name
            workdir.mkdir()
            return servers.enter_context(run_lexica_serve(database_url, workdir, extra_env=RESTART_ENV, port=port))

        first = await asyncio.to_thread(serve, "first")
        key = await asyncio.to_thread(new_jobs_reader, first.base_url)
        async with AsyncLexica(first.base_url, api_key=key) as lexica:
            created = await lexica.create_list("Outlives its server")
            gone = f"list:{(await lexica.create_list('Deleted while the server is down')).value.id}"
        topic = f"list:{created.value.id}"
        async with Realtime(first.base_url, api_key=key, topics=[topic, gone], reconnect=QUICK) as realtime:
            first.process.send_signal(stop)
            await asyncio.to_thread(first.process.wait, 15)
            with closing(sqlite3.connect(tmp_path / DATABASE_FILE)) as database, database:
                database.execute("DELETE FROM word_lists WHERE id = ?", (gone.removeprefix("list:"),))
            second = await asyncio.to_thread(serve, "second")
            async with asyncio.timeout(WAIT_SECONDS):
                await realtime.ping()  # answered once the client is connected and subscribed again
            async with AsyncLexica(second.base_url, api_key=key) as lexica:
                await lexica.add_words(created.value.id, ["apple"], etag=created.etag)
            refused, changed = await _next_message(realtime), await _next_message(realtime)
            assert realtime.topics == {topic}
    assert isinstance(refused, ErrorMessage)
    assert refused.code == ErrorCode.UNKNOWN_TOPIC
    assert refused.topic is not None
    assert refused.topic.root == gone
    assert isinstance(changed, ListChanged)
    assert (changed.topic, changed.change, changed.version) == (topic, ListChange.WORDS_ADDED, 2)
    logged = [record.getMessage() for record in caplog.records]
    assert any(f"closed with {close_code}" in line and "reconnecting in" in line for line in logged), logged
    assert any(line.endswith(f"connected again, subscribed to {topic}") for line in logged), logged


async def test_a_consumer_that_does_not_read_holds_at_most_max_buffered_messages(
    server: str, owner_key: str, owner: AsyncLexica
) -> None:
    created = await owner.create_list("Busy")
    topic = f"list:{created.value.id}"
    etag = created.etag
    async with Realtime(server, api_key=owner_key, topics=[topic], max_buffered=3) as realtime:
        for headword in ALL_HEADWORDS[:12]:  # twelve changes while nobody reads
            etag = (await owner.add_words(created.value.id, [headword], etag=etag)).etag
        await asyncio.sleep(0.5)
        assert realtime.buffered <= 3
        messages = [await _next_message(realtime) for _ in range(12)]
    assert [m.version for m in messages if isinstance(m, ListChanged)] == list(range(2, 14))  # none lost
