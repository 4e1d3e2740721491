"""The SDK's event-stream reader on its own, over canned streams from a mock transport (no server): decoding,
de-duplication, and reconnection after a dropped connection."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lexica_client import APIConnectionError, JobEvent, Lexica
from lexica_client.events import JobFinished, JobProgress, JobStages


def _sse_response(chunks: list[bytes], *, fail: bool = False) -> httpx.Response:
    def stream() -> Iterator[bytes]:
        yield from chunks
        if fail:
            raise httpx.ReadError("connection dropped")

    return httpx.Response(200, headers={"Content-Type": "text/event-stream; charset=utf-8"}, content=stream())


JOB_ID = "5f0c6b8e9a2d4c1b8e7f6a5d4c3b2a19"
STAGES = b'{"job_id":"%s","kind":"export","state":"running","stages":["writing"],"done":0,"total":2}' % JOB_ID.encode()
PROGRESS = (
    b'{"type":"job.progress","topic":"job:%s","event_id":"1-0","job_id":"%s","kind":"export",'
    b'"state":"running","stage":"writing","done":1,"total":2,"occurred_at":"2025-11-23T18:00:00Z"}'
) % (JOB_ID.encode(), JOB_ID.encode())
FINISHED = (
    b'{"type":"job.finished","topic":"job:%s","event_id":"2-0","job_id":"%s","kind":"export",'
    b'"state":"succeeded","done":2,"total":2,"result":{"lines":2},"error":null,"occurred_at":"2025-11-23T18:00:01Z"}'
) % (JOB_ID.encode(), JOB_ID.encode())


def test_event_stream_split_anywhere_with_crlf_comments_and_unknown_events_parses_once() -> None:
    split = PROGRESS.index(b',"state"') + 1  # a payload over two `data:` lines, joined by a newline
    body = (
        b": ping\r\n\r\nretry: 0\r\nid: 0-0\r\nevent: job.stages\r\ndata: " + STAGES + b"\r\n\r\n"
        b"event: job.unknown\r\ndata: {}\r\n\r\n"
        b"id: 1-0\r\nevent: job.progress\r\ndata: " + PROGRESS[:split] + b"\r\ndata: " + PROGRESS[split:] + b"\r\n\r\n"
        b"id: 1-0\r\nevent: job.progress\r\ndata: " + PROGRESS + b"\r\n\r\n"  # a duplicate
        b'event: stream.reconnect\r\ndata: {"reconnect_after_ms":0}\r\n\r\n'
    )
    second = b"id: 2-0\nevent: job.finished\ndata: " + FINISHED + b"\n\n"
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 1:
            return _sse_response([body[i : i + 1] for i in range(len(body))])  # one byte at a time
        return _sse_response([second])

    with Lexica("http://lexica.test", transport=httpx.MockTransport(handler)) as lexica:
        events = list(lexica.follow_job(JOB_ID))

    assert [type(event) for event in events] == [JobStages, JobProgress, JobFinished]
    assert [request.headers.get("Last-Event-ID") for request in requests] == [None, "1-0"]
    assert requests[0].headers["Accept"].startswith("text/event-stream")


def test_connection_drops_are_retried_a_bounded_number_of_times() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        first = b"retry: 0\nid: 0-0\nevent: job.stages\ndata: " + STAGES + b"\n\n"
        return _sse_response([first] if len(requests) == 1 else [b"retry: 0\n\n"], fail=True)

    with Lexica("http://lexica.test", transport=httpx.MockTransport(handler)) as lexica:
        events: list[JobEvent] = []
        with pytest.raises(APIConnectionError):
            events.extend(lexica.follow_job(JOB_ID, reconnect_attempts=3))

    assert [type(event) for event in events] == [JobStages]
    assert len(requests) == 1 + 3  # the first stream, then as many reconnections as allowed
    assert {request.headers.get("Last-Event-ID") for request in requests[1:]} == {"0-0"}


def test_reconnect_attempts_count_only_failures_in_a_row_and_a_cut_event_comes_whole() -> None:
    finished = b"id: 2-0\nevent: job.finished\ndata: " + FINISHED + b"\n\n"
    streams = [
        b"retry: 0\nid: 0-0\nevent: job.stages\ndata: " + STAGES + b"\n\n",
        b"id: 1-0\nevent: job.progress\ndata: " + PROGRESS + b"\n\n" + finished[: len(finished) // 2],  # then cut
        finished,
    ]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return _sse_response([streams[len(requests) - 1]], fail=len(requests) < len(streams))

    with Lexica("http://lexica.test", transport=httpx.MockTransport(handler)) as lexica:
        events = list(lexica.follow_job(JOB_ID, reconnect_attempts=1))

    assert [type(event) for event in events] == [JobStages, JobProgress, JobFinished]
    assert [request.headers.get("Last-Event-ID") for request in requests] == [None, "0-0", "1-0"]
