"""What the lifespan opens and every request reaches through `request.state`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from lexica.auth.account import AccountService
from lexica.auth.service import AuthService
from lexica.auth.throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle
from lexica.lists.service import ListService
from lexica.platform.idempotency import IdempotencyStore, build_store
from lexica.platform.pagination import CursorCodec
from lexica.settings import Settings
from lexica.storage.backends import Storage, open_storage
from lexica.words.service import WordService

logger = logging.getLogger("lexica")


@dataclass
class AppState:
    settings: Settings
    storage: Storage
    redis: Redis | None
    cursors: CursorCodec
    words: WordService
    lists: ListService
    auth: AuthService
    account: AccountService
    idempotency: IdempotencyStore
    implementations: dict[type[Any], Any] = field(default_factory=dict)

    async def storage_ok(self) -> bool:
        await self.storage.ping()
        return True

    async def dictionary_ok(self) -> bool:
        return len(self.words.index) > 0

    async def redis_ok(self) -> bool:
        return self.redis is None or bool(await self.redis.ping())


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[AppState]:
    """Open storage and clients, build the services; close everything on exit."""
    async with open_storage(settings) as storage:
        redis = Redis.from_url(settings.redis_url, socket_timeout=2.0) if settings.redis_url else None
        try:
            cursors = CursorCodec(settings.effective_secret)
            words = WordService(
                storage.words,
                cursors,
                cache_size=settings.entry_cache_size,
                cache_ttl_seconds=settings.entry_cache_ttl_seconds,
            )
            if settings.search_index_on_startup:
                logger.info("search index holds %d headwords", await words.rebuild_index())
            throttle: LoginThrottle = RedisLoginThrottle(redis) if redis is not None else MemoryLoginThrottle()
            auth = AuthService(
                storage.auth,
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
            yield AppState(
                settings=settings,
                storage=storage,
                redis=redis,
                cursors=cursors,
                words=words,
                lists=ListService(storage.lists, storage.words, words, cursors),
                auth=auth,
                account=AccountService(storage.auth, auth),
                idempotency=build_store(redis, settings.idempotency_ttl_seconds),
            )
        finally:
            if redis is not None:
                await redis.aclose()
