"""Configuration: one settings class, environment prefix `LEXICA_`, `.env` supported."""

from __future__ import annotations

import secrets
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEAK_SECRETS = frozenset({"changeme", "change-me", "secret", "dev", "development", "lexica"})
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEXICA_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/lexica.sqlite3",
        description="SQLAlchemy URL of the database; SQLite file by default.",
    )
    database_echo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs cursors. Required in production; a random per-process key is used otherwise.",
    )
    entry_cache_size: int = Field(default=20_000, ge=0, description="Entries kept serialised in memory.")
    entry_cache_ttl_seconds: float = Field(default=60.0, gt=0)
    entry_max_age_seconds: int = Field(default=300, ge=0, description="Cache-Control max-age of entries.")
    search_index_on_startup: bool = True
    tune_gc: bool = Field(
        default=True, description="gc.freeze() after start-up and a higher gen-0 threshold."
    )

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

    @cached_property
    def effective_secret(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return secrets.token_urlsafe(48)
