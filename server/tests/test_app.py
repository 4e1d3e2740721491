"""Application factory, settings, served documents, response headers."""

from __future__ import annotations

import json
from importlib import resources

import httpx
import pytest
from pydantic import ValidationError

from lexica import app as app_module
from lexica._generated import models
from lexica._generated.interfaces import WordsApi
from lexica._generated.models import SearchMode
from lexica.platform.reply import Reply
from lexica.settings import Settings
from lexica.words.endpoints import WordsEndpoints


def test_startup_names_the_operation_left_unimplemented(monkeypatch: pytest.MonkeyPatch) -> None:
    class Incomplete(WordsApi):
        async def get_entry(
            self, *, headword: str, if_none_match: str | None, cache_control: str | None
        ) -> Reply[models.Entry]:
            raise NotImplementedError

        async def list_words(self, *, prefix: str | None, limit: int, cursor: str | None) -> Reply[models.HeadwordPage]:
            raise NotImplementedError

    # mypy refuses this registry entry itself (an abstract class, instantiated): the start-up check is for code
    # that mypy did not see, or ignored as here.
    incomplete = app_module.Endpoints(
        WordsApi,
        Incomplete,  # type: ignore[type-abstract]
        lambda state, metrics: Incomplete(),  # type: ignore[abstract]
    )
    endpoints = [*(entry for entry in app_module.ENDPOINTS if entry.api is not WordsApi), incomplete]
    monkeypatch.setattr(app_module, "ENDPOINTS", tuple(endpoints))
    with pytest.raises(TypeError, match=r"Incomplete must implement WordsApi\.\{.*search_words.*\}"):
        app_module.create_app(Settings(environment="test"))


def test_startup_names_an_interface_left_out_of_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "ENDPOINTS", tuple(e for e in app_module.ENDPOINTS if e.api is not WordsApi))
    with pytest.raises(TypeError, match=r"WordsApi has no implementation registered in lexica.app.ENDPOINTS"):
        app_module.create_app(Settings(environment="test"))


def test_every_interface_is_implemented() -> None:
    app_module.check_implementations()
    assert issubclass(WordsEndpoints, WordsApi)
    assert SearchMode("auto") is SearchMode.AUTO


@pytest.mark.parametrize("secret", [None, "short", "changeme"])
def test_production_refuses_missing_short_or_default_secrets(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="LEXICA_SECRET_KEY"):
        Settings(environment="production", secret_key=secret)


def test_production_accepts_a_long_random_secret() -> None:
    assert Settings(environment="production", secret_key="k" * 48).environment == "production"


def test_settings_read_the_lexica_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXICA_DATABASE_URL", "sqlite+aiosqlite:///./elsewhere.sqlite3")
    monkeypatch.setenv("LEXICA_ENTRY_CACHE_SIZE", "5")
    settings = Settings()
    assert settings.database_url.endswith("elsewhere.sqlite3")
    assert settings.entry_cache_size == 5


async def test_openapi_json_is_the_hand_written_spec(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    served = response.json()
    bundled = json.loads((resources.files("lexica._generated") / "openapi.json").read_text())
    assert served == bundled
    assert served["openapi"].startswith("3.1")
    assert "getEntry" in json.dumps(served)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages_are_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert "/openapi.json" in response.text


async def test_responses_carry_security_headers_and_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) == 32


async def test_a_safe_client_request_id_is_echoed_and_an_unsafe_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
