"""What the lifespan opens and every request reaches through `request.state`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Tracer
from redis.asyncio import Redis

from lexica.auth.throttle import build_login_throttle
from lexica.auth.wiring import AuthServices, build_auth_services
from lexica.jobs.blobs import BlobStore
from lexica.jobs.job_tally import JobTally
from lexica.jobs.limits import JobLimits
from lexica.jobs.queue import JobQueue, SaqJobQueue
from lexica.jobs.records import JobRecords
from lexica.jobs.retention import RetentionSweeper
from lexica.jobs.runner import JobContext
from lexica.jobs.service import JobService
from lexica.jobs.wiring import (
    build_blob_store,
    in_process_queue,
    open_job_store,
    recover_interrupted,
    retention_sweeper,
)
from lexica.lists.service import ListService
from lexica.platform.events import EventBus, Publisher, build_event_bus
from lexica.platform.idempotency import Idempotency, build_idempotency
from lexica.platform.lifecycle import Lifecycle
from lexica.platform.pagination import CursorCodec
from lexica.platform.redis_client import redis_client, redis_options
from lexica.platform.tracing import instrument_redis, jobs_tracer
from lexica.realtime.hub import WebSocketHub
from lexica.settings import Settings
from lexica.storage.backends import Storage, open_storage
from lexica.words.service import WordService

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("lexica")


@dataclass
class AppState:
    settings: Settings
    storage: Storage
    redis: Redis | None
    cursors: CursorCodec
    words: WordService
    lists: ListService
    auth: AuthServices
    idempotency: Idempotency
    events: EventBus
    jobs: JobService
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    # The jobs this process runs (the in-process worker; with Redis, `lexica worker`s run them and count them).
    job_tally: JobTally = field(default_factory=JobTally)
    implementations: dict[type[Any], Any] = field(default_factory=dict)

    @cached_property
    def websockets(self) -> WebSocketHub:
        """What this instance's sockets share (limits, per-user socket count, topic access); made on first use."""
        return WebSocketHub(self.settings, self.redis, self.jobs, self.lists)

    async def storage_ok(self) -> bool:
        await self.storage.ping()
        return True

    async def dictionary_ok(self) -> bool:
        return len(self.words.index) > 0

    async def redis_ok(self) -> bool:
        return self.redis is None or bool(await self.redis.ping())


def job_queue(settings: Settings, context: JobContext) -> JobQueue:
    """SAQ on Redis (run `lexica worker` processes) when Redis is configured, else this process's own worker."""
    if settings.redis_url:
        return SaqJobQueue(
            settings.redis_url,
            heartbeat_seconds=settings.job_heartbeat_seconds,
            retries=settings.job_retries,
            options=redis_options(settings),
        )
    return in_process_queue(settings, context)


@dataclass
class Services:
    """The domain services over one storage, event bus and job store; the API and `lexica worker` both build them."""

    words: WordService
    lists: ListService
    job_context: JobContext


def build_services(
    settings: Settings,
    storage: Storage,
    cursors: CursorCodec,
    events: Publisher,
    jobs: JobRecords,
    blobs: BlobStore,
    tracer: Tracer | None = None,
) -> Services:
    words = WordService(
        storage.words,
        cursors,
        cache_size=settings.entry_cache_size,
        cache_ttl_seconds=settings.entry_cache_ttl_seconds,
        events=events,
        hot_set_size=settings.entry_cache_warm_count,
    )
    lists = ListService(storage.lists, storage.words, words, cursors, events)
    context = JobContext(
        jobs=jobs,
        bus=events,
        blobs=blobs,
        words=storage.words,
        entries=words,
        lists=lists,
        gcide_dir=settings.gcide_data_dir,
        tracer=tracer or trace.NoOpTracer(),
    )
    return Services(words=words, lists=lists, job_context=context)


@asynccontextmanager
async def open_state(settings: Settings, tracer_provider: TracerProvider | None = None) -> AsyncIterator[AppState]:
    """Open storage and clients, build the services; close everything on exit. With a `tracer_provider`, SQL,
    Redis and jobs are traced."""
    if tracer_provider is not None:
        instrument_redis(tracer_provider)
    async with open_storage(settings, tracer_provider) as storage:
        # Every Redis client comes from one factory: timeouts, one retry, health checks, the circuit breaker.
        redis = redis_client(settings.redis_url, redis_options(settings)) if settings.redis_url else None
        events = build_event_bus(settings.redis_url, redis_options(settings))
        queue: JobQueue | None = None
        sweeper: RetentionSweeper | None = None
        try:
            cursors = CursorCodec(settings.effective_secret)
            job_store = await open_job_store(settings, redis)
            blobs = build_blob_store(settings)
            services = build_services(
                settings, storage, cursors, events, job_store, blobs, jobs_tracer(tracer_provider)
            )
            words = services.words
            queue = job_queue(settings, services.job_context)
            await recover_interrupted(services.job_context)
            sweeper = retention_sweeper(settings, job_store, blobs, events)
            sweeper.start()
            if settings.search_index_on_startup:
                logger.info("search index holds %d headwords", await words.rebuild_index())
            throttle = build_login_throttle(redis)
            auth = build_auth_services(
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
                and await auth.registration.bootstrap_admin(admin_email, admin_password.get_secret_value())
            ):
                logger.info("created the first admin from settings")
            lifecycle = Lifecycle()
            yield AppState(
                settings=settings,
                storage=storage,
                redis=redis,
                cursors=cursors,
                words=words,
                lists=services.lists,
                auth=auth,
                idempotency=build_idempotency(redis, settings),
                events=events,
                jobs=JobService(
                    job_store,
                    queue,
                    events,
                    blobs,
                    services.lists,
                    cursors,
                    stream_lifetime_seconds=settings.event_stream_lifetime_seconds,
                    heartbeat_seconds=settings.job_heartbeat_seconds,
                    lifecycle=lifecycle,
                    limits=JobLimits.from_settings(settings),
                ),
                lifecycle=lifecycle,
                job_tally=services.job_context.tally,
            )
        finally:
            if sweeper is not None:
                await sweeper.stop()
            if queue is not None:
                await queue.close()
            await events.close()
            if redis is not None:
                await redis.aclose()
