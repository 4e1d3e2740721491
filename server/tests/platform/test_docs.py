"""Swagger UI and ReDoc load only from this origin (assets the project installs), or are not served at all."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lexica.platform.docs import ASSETS_DIR
from tests.conftest import _client, make_settings

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
_REFERENCE = re.compile(r"""(?:src|href|spec-url|data-spec-url)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
async def docs_off(empty_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(make_settings(empty_database, docs_enabled=False)):
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_same_origin_assets_which_are_served(
    empty_client: httpx.AsyncClient, page: str
) -> None:
    response = await empty_client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "//" not in html  # no absolute URL, no scheme-relative one
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no CDN, no inline script
    references = _REFERENCE.findall(html)
    assert references, "the page loads nothing?"
    scripts = [ref for ref in references if ref.endswith(".js")]
    assert scripts
    for reference in references:
        assert reference.startswith("/"), reference
        asset = await empty_client.get(reference)
        assert asset.status_code == 200, reference
        suffix = Path(reference).suffix
        expected = CONTENT_TYPES.get(suffix, "application/json")
        assert asset.headers["content-type"].startswith(expected), (reference, asset.headers["content-type"])
        if suffix in (".js", ".css"):
            assert "cdn.jsdelivr.net" not in asset.text
            assert "unpkg.com" not in asset.text


async def test_assets_are_the_installed_files(empty_client: httpx.AsyncClient) -> None:
    bundle = await empty_client.get("/docs/swagger-ui-bundle.js")
    assert bundle.content == (ASSETS_DIR / "swagger-ui-bundle.js").read_bytes()
    assert "max-age" in bundle.headers["cache-control"]


@pytest.mark.parametrize(
    "path", ["/docs", "/redoc", "/docs/swagger-ui-bundle.js", "/docs/swagger-init.js", "/redoc/redoc.standalone.js"]
)
async def test_with_docs_disabled_the_pages_and_assets_are_404(docs_off: httpx.AsyncClient, path: str) -> None:
    response = await docs_off.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_with_docs_disabled_the_spec_is_still_served(docs_off: httpx.AsyncClient) -> None:
    response = await docs_off.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
