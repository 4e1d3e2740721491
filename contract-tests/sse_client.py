"""Reading a server-sent event stream in the tests, every event validated against the AsyncAPI document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from asyncapi_contract import validate_sse_event


@dataclass(frozen=True)
class SseEvent:
    name: str
    data: dict[str, Any]
    id: str | None
    retry: str | None


def read_events(http: httpx.Client, href: str, headers: dict[str, str]) -> list[SseEvent]:
    """Every event of one SSE connection, until the server ends it."""
    events: list[SseEvent] = []
    with http.stream("GET", href, headers={**headers, "Accept": "text/event-stream"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "event" in fields:
                data = json.loads(fields["data"])
                validate_sse_event(fields["event"], data)
                events.append(SseEvent(fields["event"], data, fields.get("id"), fields.get("retry")))
            fields = {}
    return events
