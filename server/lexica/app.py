"""The application factory."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

import lexica
from lexica._generated.interfaces import API_CLASSES, OpsApi, WordsApi
from lexica._generated.routes import add_routes
from lexica.ops.endpoints import OpsEndpoints
from lexica.platform.docs import mount_docs
from lexica.platform.middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from lexica.platform.pagination import CursorCodec
from lexica.platform.problems import install_problem_handlers
from lexica.settings import Settings
from lexica.state import AppState
from lexica.storage.sql.database import create_engine, create_schema, ping
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.endpoints import WordsEndpoints
from lexica.words.service import WordService

logger = logging.getLogger("lexica")

# Each generated interface and the class that implements it. Start-up fails if one is missing or abstract.
IMPLEMENTATIONS: dict[type[Any], type[Any]] = {WordsApi: WordsEndpoints, OpsApi: OpsEndpoints}


def check_implementations() -> None:
    """Fail fast, naming what to write, when an operation of the spec has no implementation."""
    problems = []
    for api in API_CLASSES:
        impl = IMPLEMENTATIONS.get(api)
        if impl is None:
            problems.append(f"{api.__name__} has no implementation registered in lexica.app.IMPLEMENTATIONS")
        elif inspect.isabstract(impl):
            missing = ", ".join(sorted(getattr(impl, "__abstractmethods__", ())))
            problems.append(f"{impl.__name__} must implement {api.__name__}.{{{missing}}}")
    if problems:
        raise TypeError("operations without an implementation: " + "; ".join(problems))


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings.database_url, echo=settings.database_echo)
        try:
            await create_schema(engine)
            repository = SqlWordRepository(engine)
            words = WordService(
                repository,
                CursorCodec(settings.effective_secret),
                cache_size=settings.entry_cache_size,
                cache_ttl_seconds=settings.entry_cache_ttl_seconds,
            )
            if settings.search_index_on_startup:
                indexed = await words.rebuild_index()
                logger.info("search index holds %d headwords", indexed)

            async def storage_ok() -> bool:
                await ping(engine)
                return True

            async def dictionary_ok() -> bool:
                return len(words.index) > 0

            state = AppState(settings=settings, engine=engine, words=words)
            state.implementations = {
                WordsApi: WordsEndpoints(words, entry_max_age=settings.entry_max_age_seconds),
                OpsApi: OpsEndpoints({"storage": storage_ok, "dictionary": dictionary_ok}),
            }
            if settings.tune_gc:
                # Start-up objects are long-lived: move them out of the collector's way (see ARCHITECTURE.md).
                gc.collect()
                gc.freeze()
                gc.set_threshold(50_000, 50, 100)
            yield {"lexica": state, "implementations": state.implementations}
        finally:
            await engine.dispose()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    check_implementations()
    app = FastAPI(
        title="Lexica",
        version=lexica.__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings),
    )
    app.router.redirect_slashes = False
    install_problem_handlers(app)
    add_routes(app.router)
    mount_docs(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so every response carries the id
    return app
