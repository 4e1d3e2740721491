"""Reading a job's server-sent event stream: the WHATWG `text/event-stream` decoding, and the reconnection state
that makes `follow_job` see every event once across cut streams (`Last-Event-ID`, the server's `retry` hint,
bounded retries with growing pauses on transport errors)."""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from lexica_client.errors import UnexpectedResponseError, parsing
from lexica_client.events import JobFinished, JobProgress, JobStages, StreamReconnect

JobEvent = JobStages | JobProgress | JobFinished

_EVENT_MODELS: dict[str, type[JobStages] | type[JobProgress] | type[JobFinished]] = {
    "job.stages": JobStages,
    "job.progress": JobProgress,
    "job.finished": JobFinished,
}
_RECONNECT_EVENT = "stream.reconnect"
_DEFAULT_RETRY_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 30.0
# The server sends a `: ping` comment every 15 s: a stream silent for three of them is presumed dead.
_STREAM_READ_TIMEOUT = 45.0
_SSE_ACCEPT = "text/event-stream, application/problem+json"
_LINE_END = re.compile(r"\r\n|\r|\n")


def job_path(job_id: str, leaf: str) -> str:
    return f"/api/v1/jobs/{quote(job_id, safe='')}/{leaf}"


@dataclass(frozen=True, slots=True)
class Message:
    """One dispatched block of the stream: `data` is None without `data:` lines, `id` None without `id:`."""

    event: str
    data: str | None
    id: str | None
    retry_ms: int | None


class SseDecoder:
    """The WHATWG `text/event-stream` format, fed bytes as they arrive: UTF-8, lines ending in CRLF, LF or CR,
    comment lines starting with `:`, and a blank line ending each event."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._reset()

    def _reset(self) -> None:
        self._seen_field = False
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[Message]:
        text = self._pending + self._text.decode(chunk)
        held = "\r" if text.endswith("\r") else ""  # it may be the first half of a CRLF
        *lines, rest = _LINE_END.split(text.removesuffix(held))
        self._pending = rest + held
        messages = []
        for line in lines:
            message = self._line(line)
            if message is not None:
                messages.append(message)
        return messages

    def _line(self, line: str) -> Message | None:
        if not line:
            message = None
            if self._seen_field:
                data = "\n".join(self._data) if self._data else None
                message = Message(self._event or "message", data, self._id, self._retry)
            self._reset()
            return message
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        self._seen_field = True
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None


def event_of(message: Message) -> JobEvent | None:
    """The job event a message carries; None for comments, reconnect hints and events this client does not know."""
    model = _EVENT_MODELS.get(message.event)
    if model is None or message.data is None:
        return None
    with parsing(model):
        return model.model_validate_json(message.data)


class Follow:
    """What following one job remembers across connections: where to resume, how long to wait, the deadline."""

    def __init__(self, job_id: str, *, reconnect_attempts: int, timeout: float | None) -> None:
        if reconnect_attempts < 0:
            raise ValueError(f"reconnect_attempts must be at least 0; got {reconnect_attempts}")
        self.job_id = job_id
        self.path = job_path(job_id, "events")
        self.finished = False
        self._last_event_id: str | None = None
        self._seen: set[str] = set()
        self._delay = _DEFAULT_RETRY_SECONDS
        self._reconnect_hinted = False
        self._failures = 0
        self._attempts = reconnect_attempts
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def headers(self) -> dict[str, str]:
        headers = {"Accept": _SSE_ACCEPT}
        if self._last_event_id:
            headers["Last-Event-ID"] = self._last_event_id
        return headers

    def http_timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """The client's timeouts, but a read may wait for the next heartbeat, and none beyond the deadline."""
        read = None if base.read is None else max(base.read, _STREAM_READ_TIMEOUT)
        if self._deadline is not None:
            remaining = max(self._deadline - time.monotonic(), 0.001)
            read = remaining if read is None else min(read, remaining)
        return httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)

    def check_time(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise TimeoutError(f"the job {self.job_id} did not finish within {self._timeout} s")

    def opened(self, response: httpx.Response) -> SseDecoder:
        """The decoder for a new connection, once it is sure to be an event stream."""
        self._reconnect_hinted = False
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        if media_type != "text/event-stream":
            raise UnexpectedResponseError(
                response.status_code, "Unexpected Response", f"expected an event stream, got {media_type!r}"
            )
        return SseDecoder()

    def receive(self, messages: list[Message]) -> list[JobEvent]:
        """The job events among `messages` not seen before; notes the resume point and the reconnect hints."""
        events: list[JobEvent] = []
        for message in messages:
            if message.retry_ms is not None:
                self._delay = message.retry_ms / 1000
            if message.id is not None:
                self._last_event_id = message.id or None  # an empty id resets it, as in EventSource
            if message.data is None:
                continue
            if message.event == _RECONNECT_EVENT:
                with parsing(StreamReconnect):
                    self._delay = StreamReconnect.model_validate_json(message.data).reconnect_after_ms / 1000
                self._reconnect_hinted = True
                continue
            if message.id is not None and message.id in self._seen:
                continue  # a duplicate
            event = event_of(message)
            if event is None:
                continue  # an event this client does not know
            if message.id is not None:
                self._seen.add(message.id)
            self._failures = 0
            events.append(event)
            if isinstance(event, JobFinished):
                self.finished = True
                return events
        self.check_time()
        return events

    def dropped(self, error: Exception) -> None:
        """The connection failed, or ended without a reason: raise `error` once too many did so in a row."""
        self.check_time()
        self._failures += 1
        if self._failures > self._attempts:
            raise error

    def ended(self) -> None:
        if self._reconnect_hinted:
            self._reconnect_hinted = False
        else:
            self.dropped(
                UnexpectedResponseError(200, "Unexpected Response", "the event stream ended before the job finished")
            )

    def pause(self) -> float:
        """Seconds to wait before reconnecting: the server's hint, doubled for every failure in a row (to a limit)."""
        backoff = self._delay * 2.0 ** max(self._failures - 1, 0)
        delay = min(backoff, max(self._delay, _MAX_BACKOFF_SECONDS))
        if self._deadline is not None:
            delay = min(delay, max(self._deadline - time.monotonic(), 0.0))
        return delay
