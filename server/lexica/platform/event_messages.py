"""Outgoing events as the AsyncAPI contract declares them, built from the generated models (`lexica._generated.events`):
mypy checks every field a publisher fills in and pydantic every value, when the event is published rather than when a
client trips over it.

An event's `event_id` belongs to the bus: Redis gives it when it stores the event, so a message exists before its id
does. A publisher builds the message with `PENDING_ID`; the bus stores it without the id (`announce`) and every
delivery puts the id the bus gave back in (`delivered`).
"""

from __future__ import annotations

from typing import Any

from lexica._generated.events import EntryChanged, JobFinished, JobProgress, ListChanged
from lexica.platform.events import Event, Publisher

Announcement = JobProgress | JobFinished | ListChanged | EntryChanged

# What a message carries as its `event_id` until the bus has given it one; never stored, never sent.
PENDING_ID = "pending"


async def announce(bus: Publisher, message: Announcement) -> str:
    """Publish `message` on its topic under its type; the id the bus gave it (`UNPUBLISHED` if it took none)."""
    payload: dict[str, Any] = message.model_dump(mode="json", exclude={"event_id"})
    return await bus.publish(message.topic, message.type, payload)


def delivered(event: Event) -> dict[str, Any]:
    """The message as a client receives it: what was published, with the id the bus gave it."""
    return {**event.payload, "event_id": event.id}
