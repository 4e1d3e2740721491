"""Settings of the rate limiter, the body-size limit and CORS."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lexica.settings import Settings

PRODUCTION_SECRET = "a-production-grade-secret-of-more-than-32-characters"
OUR_SETTINGS = (
    "ENVIRONMENT",
    "REDIS_URL",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_ANONYMOUS",
    "RATE_LIMIT_AUTHENTICATED",
    "RATE_LIMIT_LOGIN",
    "MAX_REQUEST_BODY_BYTES",
    "CORS_ORIGINS",
    "CORS_ALLOW_CREDENTIALS",
)


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OUR_SETTINGS:
        monkeypatch.delenv(f"LEXICA_{name}", raising=False)


def from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"LEXICA_{name.upper()}", value)
    return Settings(_env_file=None)


def production(**overrides: Any) -> Settings:
    return Settings(_env_file=None, environment="production", secret_key=PRODUCTION_SECRET, **overrides)


def test_defaults_limit_without_redis_and_allow_no_cross_origin_calls() -> None:
    settings = Settings(_env_file=None)

    assert settings.redis_url is None
    assert settings.rate_limit_enabled is True
    assert settings.rate_limit_anonymous == "300/minute"
    assert settings.rate_limit_authenticated == "1200/minute"
    assert settings.rate_limit_login == "20/minute"
    assert settings.max_request_body_bytes == 1_048_576
    assert settings.cors_origins == []
    assert settings.cors_allow_credentials is False


def test_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(
        monkeypatch,
        redis_url="redis://cache.internal:6379/0",
        rate_limit_enabled="false",
        rate_limit_login="5 per 10 minutes",
        max_request_body_bytes="4096",
    )

    assert settings.redis_url == "redis://cache.internal:6379/0"
    assert settings.rate_limit_enabled is False
    assert settings.rate_limit_login == "5 per 10 minutes"
    assert settings.max_request_body_bytes == 4096


def test_redis_url_is_kept_out_of_the_settings_repr() -> None:
    assert "hunter2" not in repr(Settings(redis_url="redis://:hunter2@cache:6379/0"))


@pytest.mark.parametrize("value", ["lots", "300/fortnight", "1/second;100/minute", "0/minute", ""])
def test_a_malformed_rate_limit_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError, match="LEXICA_RATE_LIMIT_ANONYMOUS must be one rate limit"):
        from_env(monkeypatch, rate_limit_anonymous=value)


def test_body_limit_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="max_request_body_bytes"):
        Settings(max_request_body_bytes=0)


def test_cors_origins_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, cors_origins=" https://app.example.com, http://localhost:5173 ,")

    assert settings.cors_origins == ["https://app.example.com", "http://localhost:5173"]


def test_cors_origins_accept_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, cors_origins='["https://app.example.com", "*"]')

    assert settings.cors_origins == ["https://app.example.com", "*"]


def test_empty_cors_origins_mean_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_env(monkeypatch, cors_origins="").cors_origins == []


@pytest.mark.parametrize("value", ["https://app.example.com/", "app.example.com", "https://x.example/path"])
def test_a_cors_entry_that_is_not_an_origin_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError, match="LEXICA_CORS_ORIGINS entries must be"):
        from_env(monkeypatch, cors_origins=value)


def test_broken_json_cors_origins_are_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="LEXICA_CORS_ORIGINS is not a valid JSON list"):
        from_env(monkeypatch, cors_origins='["https://app.example.com"')


def test_production_refuses_wildcard_cors_with_credentials() -> None:
    with pytest.raises(ValidationError, match="LEXICA_CORS_ORIGINS must list explicit origins") as refused:
        production(cors_origins=["*"], cors_allow_credentials=True)

    assert "LEXICA_CORS_ALLOW_CREDENTIALS=false" in str(refused.value)


def test_production_accepts_wildcard_without_credentials_or_explicit_origins_with_them() -> None:
    assert production(cors_origins=["*"]).cors_origins == ["*"]
    explicit = production(cors_origins=["https://app.example.com"], cors_allow_credentials=True)
    assert explicit.cors_allow_credentials is True


def test_development_tolerates_wildcard_cors_with_credentials() -> None:
    settings = Settings(environment="development", cors_origins=["*"], cors_allow_credentials=True)

    assert settings.cors_origins == ["*"]
