"""A job's worker process in the embedded mode: `python -m lexica.jobs.job_process`, started by the API process.

Reading, validating and hashing a dictionary, compiling its SQL and serialising an export are CPU work; run on the
API's event loop, every request waits behind them (one GCIDE import made cached reads wait up to 270 ms). So each job
runs in a process of its own, through the same `run_job` and the same services that `lexica worker` builds with
Redis: one job path. It opens the same database and job files directory itself; the job records and the event bus
are the parent's (`lexica.jobs.worker_link`). It runs at a lower CPU priority than the API it works for.

The API keeps one such process started ahead (`JobProcesses`): everything is imported when this module is, before
the process waits on its stdin for a job, so a job starts at once.

SIGTERM (the API is stopping) cancels the job, which records itself as interrupted through the parent, as the
in-process worker did; whatever it cannot record, the parent does when the process has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from lexica.jobs.runner import run_job
from lexica.jobs.wiring import build_blob_store
from lexica.jobs.worker_link import (
    LINE_LIMIT,
    ParentJobRecords,
    ParentLink,
    ParentPublisher,
    ParentTally,
    read_settings,
)
from lexica.platform.logs import configure_server_logging
from lexica.platform.pagination import CursorCodec
from lexica.platform.tracing import jobs_tracer, tracer_provider
from lexica.settings import Settings
from lexica.state import build_services
from lexica.storage.backends import open_storage

# Added to the worker's nice value: the kernel gives the API's requests the CPU first, the job what is left.
NICENESS = 10


async def _run(settings: Settings, job_id: str, link: ParentLink) -> None:
    provider = tracer_provider(settings, "lexica-worker")
    try:
        async with open_storage(settings, provider) as storage:
            services = build_services(
                # No entry cache: this process follows no entry changes, and an export must not serve a stale copy.
                settings.model_copy(update={"entry_cache_size": 0, "entry_cache_warm_count": 0}),
                storage,
                CursorCodec(settings.effective_secret),
                ParentPublisher(link),
                ParentJobRecords(link),
                build_blob_store(settings),
                jobs_tracer(provider),
            )
            context = services.job_context
            context.record_interruptions = True  # nothing else would run it again
            context.tally = ParentTally(link)
            await run_job(context, job_id)
    finally:
        if provider is not None:
            provider.shutdown()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    answers = asyncio.StreamReader(limit=LINE_LIMIT, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(answers), sys.stdin)
    # The questions go out on the real stdout; anything else printing to stdout goes to stderr instead.
    questions_file = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, questions_file)
    questions = asyncio.StreamWriter(transport, protocol, None, loop)

    opening = await answers.readline()
    if not opening:  # a spare process the API no longer needs: it closed our stdin before giving us a job
        return
    settings = read_settings(opening)
    job_id = (await answers.readline()).decode().strip()
    configure_server_logging(settings.log_level.upper(), settings.effective_log_format)

    work = asyncio.current_task()
    if work is not None:
        loop.add_signal_handler(signal.SIGTERM, work.cancel)
    with contextlib.suppress(asyncio.CancelledError):  # stopped: the job has recorded that it was interrupted
        await _run(settings, job_id, ParentLink(answers, questions))
    transport.close()


def main() -> None:
    os.nice(NICENESS)
    asyncio.run(_main())


if __name__ == "__main__":
    main()
