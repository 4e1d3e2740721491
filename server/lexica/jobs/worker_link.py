"""The line between the API process and a job's worker process in the embedded mode (no Redis).

Without Redis, the job records and the event bus live in the API process, so a worker process reaches them through
its parent: it asks, one question at a time, over its stdout and reads each answer on its stdin, one JSON object a
line. The parent starts it with two lines on its stdin: the settings (pickled: they hold secrets, which never go on
a command line) and the id of the job to run.

Asked of the parent (`op`): `get` (the job's record, with its cancel flag), `save` (the record), `publish` (an
event: its id comes back); told, without an answer: `started` and `ended` (the metrics' job counts).

Why not multiprocessing: its pipes and queues block, so each side would need threads to serve the other from an
event loop; asyncio's subprocess streams are non-blocking on both ends and need nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import pickle
from collections.abc import Mapping
from typing import Any

from lexica.jobs.job_tally import JobTally
from lexica.jobs.records import JobRecord
from lexica.settings import Settings

GET, SAVE, PUBLISH, STARTED, ENDED = "get", "save", "publish", "started", "ended"
LINE_LIMIT = 1 << 24  # bytes a line may have (a job record, an event: a few hundred bytes)


def opening_lines(settings: Settings, job_id: str) -> bytes:
    """What the parent writes first: the settings, then the job id."""
    return base64.b64encode(pickle.dumps(settings)) + b"\n" + job_id.encode() + b"\n"


def read_settings(line: bytes) -> Settings:
    """The settings from the parent's first line (the parent is this program, started by us: it is trusted)."""
    settings = pickle.loads(base64.b64decode(line))  # noqa: S301 - written by our own parent process
    if not isinstance(settings, Settings):
        raise TypeError(f"expected the settings, got {type(settings).__name__}")
    return settings


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class ParentLink:
    """The worker's side: questions to the parent, one at a time, each answered in order."""

    def __init__(self, answers: asyncio.StreamReader, questions: asyncio.StreamWriter) -> None:
        self._answers = answers
        self._questions = questions
        self._turn = asyncio.Lock()
        self._ids = itertools.count(1)

    async def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        async with self._turn:
            asked = next(self._ids)
            self._questions.write(encode({"op": op, "id": asked, **fields}))
            await self._questions.drain()
            line = await self._answers.readline()
            if not line:
                raise ConnectionError("the API process that started this worker is gone")
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") != asked:
                raise ConnectionError(f"answer {answer.get('id')} to question {asked}")
            if "error" in answer:  # the parent could not do it (its job store failed): the job fails here
                raise RuntimeError(f"the API process could not {op}: {answer['error']}")
            return answer

    def tell(self, op: str, **fields: Any) -> None:
        self._questions.write(encode({"op": op, **fields}))


class ParentJobRecords:
    """The job records of the parent (`JobRecords`)."""

    def __init__(self, link: ParentLink) -> None:
        self._link = link

    async def get(self, job_id: str) -> JobRecord | None:
        record = (await self._link.ask(GET, job_id=job_id))["job"]
        return JobRecord.from_json(record) if record is not None else None

    async def save(self, job: JobRecord) -> None:
        await self._link.ask(SAVE, job=job.to_json())


class ParentPublisher:
    """The parent's event bus (`Publisher`): best-effort there, as everywhere."""

    def __init__(self, link: ParentLink) -> None:
        self._link = link

    async def publish(self, topic: str, name: str, payload: Mapping[str, Any]) -> str:
        answer = await self._link.ask(PUBLISH, topic=topic, name=name, payload=dict(payload))
        return str(answer["event_id"])


class ParentTally(JobTally):
    """Counts here, and tells the parent, whose metrics show the jobs it runs."""

    def __init__(self, link: ParentLink) -> None:
        super().__init__()
        self._link = link

    def started(self, kind: str) -> None:
        super().started(kind)
        self._link.tell(STARTED, kind=kind)

    def ended(self, kind: str, state: str, seconds: float) -> None:
        super().ended(kind, state, seconds)
        self._link.tell(ENDED, kind=kind, state=state, seconds=seconds)
