"""What the lifespan opens and every request reaches through `request.state`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from lexica.auth.account import AccountService
from lexica.auth.service import AuthService
from lexica.auth.throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle
from lexica.lists.service import ListService
from lexica.platform.idempotency import IdempotencyStore, build_store
from lexica.platform.pagination import CursorCodec
from lexica.settings import Settings
from lexica.storage.sql.auth import SqlAuthRepository
from lexica.storage.sql.database import create_engine, ping, upgrade_schema
from lexica.storage.sql.lists import SqlListRepository
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.service import WordService

logger = logging.getLogger("lexica")


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    redis: Redis | None
    cursors: CursorCodec
    words: WordService
    lists: ListService
    auth: AuthService
    account: AccountService
    idempotency: IdempotencyStore
    implementations: dict[type[Any], Any] = field(default_factory=dict)

    async def storage_ok(self) -> bool:
        await ping(self.engine)
        return True

    async def dictionary_ok(self) -> bool:
        return len(self.words.index) > 0

    async def redis_ok(self) -> bool:
        return self.redis is None or bool(await self.redis.ping())


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[AppState]:
    """Open engines and clients, build the services; close everything on exit."""
    engine = create_engine(
        settings.database_url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout_seconds=settings.database_pool_timeout_seconds,
    )
    redis = Redis.from_url(settings.redis_url, socket_timeout=2.0) if settings.redis_url else None
    try:
        await upgrade_schema(engine)
        cursors = CursorCodec(settings.effective_secret)
        words = WordService(
            SqlWordRepository(engine),
            cursors,
            cache_size=settings.entry_cache_size,
            cache_ttl_seconds=settings.entry_cache_ttl_seconds,
        )
        if settings.search_index_on_startup:
            logger.info("search index holds %d headwords", await words.rebuild_index())
        auth_repository = SqlAuthRepository(engine)
        throttle: LoginThrottle = RedisLoginThrottle(redis) if redis is not None else MemoryLoginThrottle()
        auth = AuthService(
            auth_repository,
            throttle,
            secret=settings.effective_secret,
            access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
        admin_email, admin_password = settings.first_admin_email, settings.first_admin_password
        if (
            admin_email
            and admin_password
            and await auth.bootstrap_admin(admin_email, admin_password.get_secret_value())
        ):
            logger.info("created the first admin from settings")
        account = AccountService(auth_repository, auth)
        yield AppState(
            settings=settings,
            engine=engine,
            redis=redis,
            cursors=cursors,
            words=words,
            lists=ListService(SqlListRepository(engine), SqlWordRepository(engine), words, cursors),
            auth=auth,
            account=account,
            idempotency=build_store(redis, settings.idempotency_ttl_seconds),
        )
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
