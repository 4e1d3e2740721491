"""The application factory."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from types import MethodType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastapi import FastAPI
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import lexica
from lexica._generated.interfaces import API_CLASSES, AdminApi, AuthApi, JobsApi, ListsApi, OpsApi, UsersApi, WordsApi
from lexica._generated.routes import OPERATIONS, PARAMETER_MODELS, add_routes
from lexica.auth.endpoints import AdminEndpoints, AuthEndpoints, UsersEndpoints, oauth_validation_problem
from lexica.auth.rate_limit_identity import identify
from lexica.jobs.endpoints import JobsEndpoints
from lexica.lists.endpoints import ListsEndpoints
from lexica.ops.endpoints import OpsEndpoints
from lexica.platform.body_limit import BodySizeLimitMiddleware
from lexica.platform.body_timeout import BodyTimeoutMiddleware
from lexica.platform.cors import add_cors, headers_without_origin
from lexica.platform.docs import mount_docs
from lexica.platform.front import FrontAnswers
from lexica.platform.idempotency import IdempotencyMiddleware
from lexica.platform.logs import install_log_safety
from lexica.platform.metrics import InstanceMetrics, MetricSources
from lexica.platform.middleware import RequestIdMiddleware, SecurityHeadersMiddleware, UnhandledErrorMiddleware
from lexica.platform.pages import mount_pages
from lexica.platform.problems import install_problem_handlers
from lexica.platform.rate_limit import RateLimiter, RateLimitMiddleware, build_rate_limiter
from lexica.platform.redis_client import breaker_for, redis_options
from lexica.platform.replay import Generation, ReplayedReads
from lexica.platform.request_tally import RequestTally, count_in_flight
from lexica.platform.running import Running, require_running
from lexica.platform.tracing import tracer_provider as tracer_provider_for
from lexica.realtime.websocket import websocket_endpoint
from lexica.settings import Settings
from lexica.state import AppState, open_state
from lexica.words.coherence import keeping_coherent
from lexica.words.endpoints import WordsEndpoints
from lexica.words.fast_lookup import FastEntryLookup
from lexica.words.hot_set import hot_set_store, keeping_hot_set

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("lexica")

ApiT = TypeVar("ApiT")


@dataclass(frozen=True, slots=True)
class Endpoints(Generic[ApiT]):
    """A generated interface, the class that implements it and how this instance builds that class."""

    api: type  # abstract (mypy accepts no abstract class as a `type[T]`): start-up checks `implementation` against it
    implementation: type[ApiT]
    build: Callable[[AppState, InstanceMetrics], ApiT]


def _ops(state: AppState, metrics: InstanceMetrics) -> OpsEndpoints:
    checks = {"storage": state.storage_ok, "dictionary": state.dictionary_ok}
    if state.redis is not None:
        checks["redis"] = state.redis_ok
    return OpsEndpoints(
        checks,
        state.lifecycle,
        optional=frozenset({"redis"}),
        metrics=metrics,
        metrics_access=state.settings.effective_metrics_access,
    )


# The one registry of the operations' implementations: start-up checks it against the generated interfaces (every
# interface here, every implementation complete) and builds the instances from it, so an interface cannot be
# checked and then not built (or the reverse).
ENDPOINTS = (  # not annotated: mypy checks each entry's three parts against each other
    Endpoints(
        WordsApi, WordsEndpoints, lambda s, _: WordsEndpoints(s.words, entry_max_age=s.settings.entry_max_age_seconds)
    ),
    Endpoints(ListsApi, ListsEndpoints, lambda s, _: ListsEndpoints(s.lists)),
    Endpoints(JobsApi, JobsEndpoints, lambda s, _: JobsEndpoints(s.jobs)),
    Endpoints(OpsApi, OpsEndpoints, _ops),
    Endpoints(AuthApi, AuthEndpoints, lambda s, _: AuthEndpoints(s.auth.registration, s.auth.sessions)),
    Endpoints(UsersApi, UsersEndpoints, lambda s, _: UsersEndpoints(s.auth.account, s.cursors, s.lists)),
    Endpoints(AdminApi, AdminEndpoints, lambda s, _: AdminEndpoints(s.auth.account, s.cursors)),
)


# The state each `x-lexica-replay` value of the spec names, as a generation read from the lifespan state.
REPLAY_GENERATIONS: dict[str, Generation] = {"dictionary": lambda state: require_running(state).app.words.generation}


def check_implementations(endpoints: Sequence[Endpoints[Any]] | None = None) -> None:
    """Fail fast, naming what to write, when an operation of the spec has no implementation."""
    problems = []
    registered = {entry.api: entry for entry in (ENDPOINTS if endpoints is None else endpoints)}
    for api in API_CLASSES:
        entry = registered.get(api)
        if entry is None:
            problems.append(f"{api.__name__} has no implementation registered in lexica.app.ENDPOINTS")
        elif not issubclass(entry.implementation, api):
            problems.append(f"{entry.implementation.__name__} does not implement {api.__name__}")
        elif inspect.isabstract(entry.implementation):
            missing = ", ".join(sorted(getattr(entry.implementation, "__abstractmethods__", ())))
            problems.append(f"{entry.implementation.__name__} must implement {api.__name__}.{{{missing}}}")
    if problems:
        raise TypeError("operations without an implementation: " + "; ".join(problems))


def build_implementations(
    state: AppState, metrics: InstanceMetrics, endpoints: Sequence[Endpoints[Any]] | None = None
) -> dict[type[Any], Any]:
    built = {}
    for entry in ENDPOINTS if endpoints is None else endpoints:
        instance = entry.build(state, metrics)
        if not isinstance(instance, entry.implementation):  # the registry's two halves must agree
            built_name, wanted = type(instance).__name__, entry.implementation.__name__
            raise TypeError(f"ENDPOINTS builds {built_name} for {entry.api.__name__}, not {wanted}")
        built[entry.api] = instance
    return built


def metric_sources(state: AppState, requests: RequestTally, limiter: RateLimiter | None) -> MetricSources:
    """What each metric of `/metrics` reads, from the parts of this instance."""
    settings = state.settings
    breaker = breaker_for(settings.redis_url, redis_options(settings)) if settings.redis_url else None
    refusals: Mapping[str, int] = limiter.refusals if limiter is not None else {}
    return MetricSources(
        entry_cache=state.words.cache_counts,
        requests=requests,
        rate_limit_refusals=lambda: refusals,
        throttled_logins=lambda: state.auth.sessions.throttled_logins,
        open_websockets=lambda: state.websockets.open_sockets,
        redis_failures=(lambda: breaker.failure_count) if breaker is not None else None,
        redis_circuit_open=(lambda: breaker.state != "closed") if breaker is not None else None,
        database_connections_in_use=state.storage.connections_in_use,
        event_bus=state.events.tally,
    )


def _lifespan(
    settings: Settings, limiter: RateLimiter | None, requests: RequestTally, provider: TracerProvider | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_state(settings, provider) as state:
            metrics = InstanceMetrics(metric_sources(state, requests, limiter), jobs=state.job_tally)
            async with (
                _closing(limiter),
                # Following first, so that no change made while the cache warms is missed.
                keeping_coherent(state.events, state.words, across_instances=settings.redis_url is not None),
                keeping_hot_set(
                    state.words,
                    hot_set_store(state.redis, settings.hot_headwords_file),
                    count=settings.entry_cache_warm_count,
                ),
                metrics.syncing(),
            ):
                state.implementations = build_implementations(state, metrics)
                if settings.tune_gc:
                    # Start-up objects are long-lived: move them out of the collector's way (see ARCHITECTURE.md).
                    gc.collect()
                    gc.freeze()
                    gc.set_threshold(50_000, 50, 100)
                running = Running(
                    app=state,
                    implementations=state.implementations,
                    authenticator=state.auth.authenticator,
                    lifecycle=state.lifecycle,  # the server starts the drain on SIGTERM through it (server.py)
                )
                yield running.as_lifespan_state()

    return lifespan


@asynccontextmanager
async def _closing(limiter: RateLimiter | None) -> AsyncIterator[None]:
    try:
        yield
    finally:
        if limiter is not None:
            await limiter.close()


class LexicaApp(FastAPI):
    """FastAPI with a front: ASGI layers that see a request before Starlette's own stack does.

    Starlette puts its error layer (and FastAPI its body-limit and telemetry layers) outside every middleware the
    app adds; each costs a call per request and a wrapped `send`. The front runs first: the proxy-header layer
    (every layer after it must see the real client address) and the fast path of cached entry lookups, which
    answers most requests without entering the stack at all.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._front: ASGIApp = MethodType(FastAPI.__call__, self)

    def add_front(self, layer: Callable[[ASGIApp], Any]) -> None:
        """Wrap the front in one more layer (the last one added sees each request first)."""
        self._front = layer(self._front)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._front(scope, receive, send)


def create_app(settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None) -> LexicaApp:
    """The app. `tracer_provider`: where spans go when `settings.tracing` is on (default: OTLP, see
    `lexica.platform.tracing`)."""
    settings = settings or Settings()
    provider = (tracer_provider or tracer_provider_for(settings, "lexica-api")) if settings.tracing else None
    check_implementations()
    install_log_safety()  # control characters escaped in every log line, credentials redacted
    limiter = build_rate_limiter(settings) if settings.rate_limit_enabled else None
    requests = RequestTally()  # every request's route, status and duration, for the metrics
    app = LexicaApp(
        title="Lexica",
        version=lexica.__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings, limiter, requests, provider),
        # FastAPI's own OpenTelemetry layer: request spans (with `traceparent` honoured) when tracing is on, with
        # the app's provider. Off otherwise: it asks the global providers on every request (~5% of a cached lookup).
        # Its metrics and logs stay off: the app has its own (/metrics, lexica.platform.logs).
        telemetry={
            "tracing": provider is not None,
            "tracer_provider": provider,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
        },
    )
    app.router.redirect_slashes = False
    install_problem_handlers(app)
    add_routes(app.router)
    # The AsyncAPI `ws` channel (asyncapi/lexica.yaml); not an OpenAPI operation.
    app.router.routes.append(WebSocketRoute("/api/v1/ws", websocket_endpoint, name="ws"))
    app.state.validation_overrides = {"issueToken": oauth_validation_problem}
    mount_docs(app, enabled=settings.docs_enabled)
    mount_pages(app, docs_enabled=settings.docs_enabled)
    count_in_flight(app.router, requests)  # once every route is added
    # Innermost: sees bodies the size limit has let through; only the operations whose spec takes the header.
    app.add_middleware(IdempotencyMiddleware, operations=OPERATIONS)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        larger={"/api/v1/imports": settings.max_upload_bytes},
    )
    app.add_middleware(BodyTimeoutMiddleware, timeout=settings.body_timeout_seconds)  # around every body reader
    if limiter is not None:
        # The probes and the metrics scrape (`x-lexica-rate-limit: exempt` in the spec): an orchestrator or Prometheus
        # polling them must never be refused.
        exempt = frozenset(operation.path for operation in OPERATIONS if not operation.rate_limited)
        app.add_middleware(RateLimitMiddleware, limiter=limiter, identify=identify, exempt_paths=exempt)
    # Any other exception becomes a 500 problem here, inside CORS, security headers and the request id.
    app.add_middleware(UnhandledErrorMiddleware)
    add_cors(app, settings)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware, tally=requests)  # outermost of the stack: every response has the id
    if settings.fast_paths and provider is None:  # traced, every request takes the stack and has its span
        # Answered as the stack would answer them, at a fraction of the cost: repeated dictionary reads, then
        # (first) cached entry lookups.
        answers = FrontAnswers(limiter=limiter, tally=requests, cors_headers=headers_without_origin(settings))
        app.add_front(partial(ReplayedReads, operations=OPERATIONS, generations=REPLAY_GENERATIONS, answers=answers))
        app.add_front(
            partial(FastEntryLookup, operations=OPERATIONS, parameter_models=PARAMETER_MODELS, answers=answers)
        )
    # First of all: the client address every layer sees (logs, rate limits, login throttle, audit) is
    # X-Forwarded-For's only when the connection comes from a trusted proxy (LEXICA_FORWARDED_ALLOW_IPS);
    # uvicorn's own is off.
    app.add_front(partial(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips))
    return app
