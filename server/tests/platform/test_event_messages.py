"""Outgoing events are the generated AsyncAPI models: a message that breaks the contract fails where it is built, and
a delivered message is the published one with the id the bus gave it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lexica._generated.events import EntryChange, EntryChanged, JobFinished, JobProgress, ServerMessage
from lexica.jobs.records import JobRecord
from lexica.jobs.runner import IMPORT_STAGES, finished_message, progress_message, stages_message
from lexica.platform.event_messages import PENDING_ID, announce, delivered
from lexica.platform.events import MemoryEventBus

JOB = JobRecord(
    id="0" * 31 + "1",
    owner_id="owner",
    kind="import",
    params={"source": "gcide"},
    stages=IMPORT_STAGES,
    state="running",
    stage=IMPORT_STAGES[1],
    done=500,
    total=1000,
)


async def test_a_message_is_stored_without_its_pending_id_and_delivered_with_the_bus_id() -> None:
    bus = MemoryEventBus()
    follower = bus.follow("entries", after=None)
    message = EntryChanged(
        type="entry.changed",
        topic="entries",
        event_id=PENDING_ID,
        headword="apple",
        version=2,
        change=EntryChange.UPDATED,
        occurred_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    )

    event_id = await announce(bus, message)
    event = await anext(follower)

    assert event.name == "entry.changed"
    assert event.topic == "entries"
    assert "event_id" not in event.payload
    sent = delivered(event)
    assert sent["event_id"] == event_id != PENDING_ID
    assert ServerMessage.model_validate(sent).root == message.model_copy(update={"event_id": event_id})


def test_job_messages_follow_the_job() -> None:
    progress = progress_message(JOB)
    assert isinstance(progress, JobProgress)
    assert (progress.topic, progress.stage, progress.done, progress.total) == (
        f"job:{JOB.id}",
        IMPORT_STAGES[1],
        500,
        1000,
    )

    failed = replace(
        JOB, state="failed", error={"type": "/problems/job-interrupted", "title": "Job Interrupted", "status": 503}
    )
    finished = finished_message(failed)
    assert isinstance(finished, JobFinished)
    assert finished.error is not None
    assert finished.error.status == 503
    assert finished.result is None

    succeeded = replace(
        JOB, state="succeeded", result={"inserted": 1, "updated": 2, "unchanged": 3, "skipped": 0, "skipped_edited": 0}
    )
    assert finished_message(succeeded).model_dump(mode="json")["result"]["updated"] == 2

    assert [str(stage.root) for stage in stages_message(JOB).stages] == list(IMPORT_STAGES)


@pytest.mark.parametrize(
    ("job", "why"),
    [
        (replace(JOB, id="not-a-job-id"), "job_id"),
        (replace(JOB, stage=""), "stage"),
        (replace(JOB, state="succeeded"), "state"),  # progress of a finished job
        (replace(JOB, done=-1), "done"),
    ],
)
def test_a_progress_message_that_breaks_the_contract_fails_where_it_is_built(job: JobRecord, why: str) -> None:
    with pytest.raises((ValidationError, ValueError), match=f"(?i){why}"):
        progress_message(job)


def test_a_finished_message_with_an_error_that_is_not_a_problem_fails_where_it_is_built() -> None:
    with pytest.raises(ValidationError, match="error"):
        finished_message(replace(JOB, state="failed", error={"type": "/problems/x", "title": "X", "status": 200}))
