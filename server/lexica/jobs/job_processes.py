"""The API's side of the embedded mode: each job runs in a worker process of its own (`lexica.jobs.job_process`),
whose questions about the job's record and whose events this process answers from its own job store and bus.

However the process ends, the job ends: a process that stopped before its job reached a final state (killed, out of
memory, a crash) leaves the job failed as `/problems/worker-lost`; one stopped because the API is stopping leaves it
interrupted, as the in-process worker did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lexica.jobs.job_tally import INTERRUPTED
from lexica.jobs.limits import worker_lost_problem
from lexica.jobs.records import JobRecord
from lexica.jobs.runner import JobContext, finish, record_interrupted
from lexica.jobs.worker_link import ENDED, GET, LINE_LIMIT, PUBLISH, SAVE, STARTED, encode, opening_lines
from lexica.settings import Settings

logger = logging.getLogger("lexica.jobs")

SPARE_IDLE_SECONDS = 60.0  # how long a ready worker process waits for a job before it is stopped
EXIT_SECONDS = 1.0  # how long a worker process that closed its end of the pipe may take to exit before it is killed
STOP_SECONDS = 5.0  # how long a worker process told to stop (SIGTERM) may take to record its job before it is killed


class JobProcesses:
    """Runs each job to its end in a worker process (`Runner` of `lexica.jobs.queue.InProcessJobQueue`).

    A process spends about a second importing the code before it can run anything; so while jobs come, one spare
    process is kept started and ready (its imports done, waiting for a job on its stdin), and a job takes it at once.
    A spare left unused for `SPARE_IDLE_SECONDS` is stopped: an idle server keeps no process it does not need.
    """

    def __init__(self, settings: Settings, context: JobContext) -> None:
        self._settings = settings
        self._context = context
        self._spare: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._retiring: asyncio.TimerHandle | None = None
        self._closed = False
        self._stopping: set[asyncio.Future[None]] = set()  # spares being stopped (kept: a task must be referenced)

    async def _process(self) -> asyncio.subprocess.Process:
        """A process for the next job: the spare if it is alive, else a new one; then the next spare is started."""
        spare, self._spare = self._spare, None
        process = None
        if spare is not None:
            with contextlib.suppress(OSError):
                process = await spare
        if process is None or process.returncode is not None:
            process = await _start()
        if not self._closed:
            self._spare = asyncio.ensure_future(_start())
            if self._retiring is not None:
                self._retiring.cancel()
            self._retiring = asyncio.get_running_loop().call_later(SPARE_IDLE_SECONDS, self._retire_spare)
        return process

    def _retire_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            stopping = asyncio.ensure_future(_stop_spare(spare))
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        """Stop the spare (the running jobs are stopped by their queue)."""
        self._closed = True
        if self._retiring is not None:
            self._retiring.cancel()
        spare, self._spare = self._spare, None
        if spare is not None:
            await _stop_spare(spare)

    async def run(self, job_id: str, heartbeat: Callable[[], Awaitable[None]]) -> None:
        # The run itself is never cancelled halfway (a process started but not yet watched would outlive us): a
        # cancellation (the API is stopping) tells it to stop the process, and waits for that.
        stop = asyncio.Event()
        attempt = asyncio.ensure_future(self._run(job_id, stop))
        try:
            await asyncio.shield(attempt)
        except asyncio.CancelledError:
            stop.set()
            await asyncio.wait({attempt})
            raise

    async def _run(self, job_id: str, stop: asyncio.Event) -> None:
        try:
            process = await self._process()
        except OSError as exc:
            logger.exception("could not start the worker process of job %s", job_id)
            await _settle(self._context, job_id, f"could not be started ({exc})", stopped=stop.is_set())
            return
        conversation = _Conversation(self._context, process)
        serving = asyncio.create_task(conversation.serve(opening_lines(self._settings, job_id)))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not serving.done():  # told to stop: the job records itself as interrupted, answered meanwhile
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                await asyncio.wait({serving}, timeout=STOP_SECONDS)
                if not serving.done():
                    logger.warning("the worker process of job %s did not stop within %.0f s", job_id, STOP_SECONDS)
        finally:
            stopping.cancel()
            returncode = await _ended(process, grace=EXIT_SECONDS)
            await asyncio.wait({serving})  # its pipe is closed now: it ends
            if not serving.cancelled() and serving.exception() is not None:
                logger.error("the conversation with job %s's worker broke off", job_id, exc_info=serving.exception())
            conversation.count_the_end()
            await _settle(self._context, job_id, f"ended (exit status {returncode})", stopped=stop.is_set())


async def _start() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lexica.jobs.job_process",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=LINE_LIMIT,
    )


async def _stop_spare(spare: asyncio.Task[asyncio.subprocess.Process]) -> None:
    """End a spare process that never got a job: its stdin closes, so it reads no settings and exits."""
    try:
        process = await spare
    except OSError:
        return
    await _ended(process, grace=STOP_SECONDS)


async def _ended(process: asyncio.subprocess.Process, *, grace: float) -> int:
    """Close the process's stdin, give it `grace` seconds to exit, kill it if it has not; its exit status.

    Never a kill at once: the process may have exited without asyncio knowing yet, and killing it then makes
    `subprocess` reap it first (`Popen.send_signal` polls), so that asyncio reports exit status 255 instead of the
    real one (a worker killed with SIGKILL was reported as 255 about one time in eight)."""
    if process.stdin is not None:
        process.stdin.close()
    if process.returncode is None:
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    return await process.wait()


async def _settle(context: JobContext, job_id: str, how: str, *, stopped: bool) -> None:
    """After the process: the job ends if it has not (interrupted when stopped, else its worker was lost)."""
    job = await context.jobs.get(job_id)
    if job is None or job.finished:
        return
    if stopped:
        await record_interrupted(context, job)
        return
    logger.error("the worker process of job %s %s before the job did", job_id, how)
    detail = f"The job's worker process {how} before the job ended; start it again."
    await finish(context, job, "failed", error=worker_lost_problem(detail))


class _Conversation:
    """What one worker process asks of this one, answered in order."""

    def __init__(self, context: JobContext, process: asyncio.subprocess.Process) -> None:
        self._context = context
        self._process = process
        self._running: tuple[str, float] | None = None  # (kind, since): the job the process told us it started

    async def serve(self, opening: bytes) -> None:
        questions, answers = self._process.stdout, self._process.stdin
        if questions is None or answers is None:
            raise RuntimeError("a job's worker process was started without its pipes")
        try:
            answers.write(opening)
            while line := await questions.readline():
                message: dict[str, Any] = json.loads(line)
                if "id" not in message:
                    self._count(message)
                    continue
                answers.write(encode({"id": message["id"], **await self._answer(message)}))
                await answers.drain()
        except (BrokenPipeError, ConnectionResetError):  # the process ended while we answered it
            return

    async def _answer(self, question: dict[str, Any]) -> dict[str, Any]:
        op = question.get("op")
        try:
            if op == GET:
                job = await self._context.jobs.get(str(question["job_id"]))
                return {"job": job.to_json() if job is not None else None}
            if op == SAVE:
                await self._context.jobs.save(JobRecord.from_json(question["job"]))
                return {}
            if op == PUBLISH:
                event_id = await self._context.bus.publish(question["topic"], question["name"], question["payload"])
                return {"event_id": event_id}
        except Exception as exc:  # told to the process, whose job fails on it (and records that, if it can)
            logger.exception("could not answer a job's worker process (%s)", op)
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"error": f"no such question: {op!r}"}

    def _count(self, told: dict[str, Any]) -> None:
        kind = str(told.get("kind"))
        if told.get("op") == STARTED:
            self._context.tally.started(kind)
            self._running = (kind, time.perf_counter())
        elif told.get("op") == ENDED and self._running is not None:
            self._context.tally.ended(kind, str(told.get("state")), float(told.get("seconds", 0.0)))
            self._running = None

    def count_the_end(self) -> None:
        """A job the process started and never told the end of (it was killed, or crashed) ends in the metrics."""
        if self._running is not None:
            kind, since = self._running
            self._context.tally.ended(kind, INTERRUPTED, time.perf_counter() - since)
            self._running = None
