"""The landing page, the problem type pages and the AsyncAPI page: every link answers, every problem type the server
can send has a page, every channel, operation and message of the AsyncAPI document is rendered."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lexica.platform.pages import bundled_asyncapi
from lexica.platform.problem_types import PROBLEM_TYPES
from tests.conftest import _client, make_settings

SERVER = Path(__file__).resolve().parents[2] / "lexica"
SPEC = Path(__file__).resolve().parents[3] / "openapi" / "lexica.yaml"
_HREF = re.compile(r'href="([^"]+)"')
# Where the server names a problem type: a `/problems/...` literal, a `slug=` argument, or an OAuth error code
# (`lexica.auth.sessions.invalid_grant` makes its slug from it).
_SENT = (
    re.compile(r"/problems/([a-z0-9-]+)"),
    re.compile(r'slug="([a-z0-9-]+)"'),
    re.compile(r'error(?::\s*str)?(?:,\s*detail)?\s*=\s*"((?:invalid|unsupported)_[a-z_]+)"'),
)


@pytest.fixture
async def docs_off(empty_database: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(make_settings(empty_database, docs_enabled=False)):
        yield client


def _slugs_sent() -> set[str]:
    found: set[str] = set()
    sources = [*SERVER.rglob("*.py"), SPEC]
    for source in sources:
        if "_generated" in source.parts:
            continue
        text = source.read_text(encoding="utf-8")
        for pattern in _SENT:
            found.update(match.replace("_", "-") for match in pattern.findall(text))
    return found


def test_every_problem_type_the_server_sends_has_a_page() -> None:
    sent = _slugs_sent()
    assert {"validation", "rate-limited", "invalid-grant", "unsupported-grant-type"} <= sent  # the scan works
    assert sorted(sent - PROBLEM_TYPES.keys()) == []


async def test_the_landing_page_links_docs_specs_and_health_and_every_link_answers(
    empty_client: httpx.AsyncClient,
) -> None:
    response = await empty_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<script" not in response.text
    links = set(_HREF.findall(response.text))
    assert {"/docs", "/redoc", "/asyncapi", "/openapi.json", "/asyncapi.json", "/problems", "/health/ready"} <= links
    answers = {link: (await empty_client.get(link)).status_code for link in sorted(links)}
    # An empty database: no dictionary yet, so readiness is 503 and the example entry a 404.
    assert answers.pop("/health/ready") == 503
    assert answers.pop("/api/v1/words/apple") == 404
    assert answers.pop("/metrics") in (200, 403)  # admins only in production
    assert {link: status for link, status in answers.items() if status != 200} == {}


async def test_each_problem_type_resolves_to_a_page_and_unknown_ones_are_404(empty_client: httpx.AsyncClient) -> None:
    index = await empty_client.get("/problems")
    assert index.status_code == 200
    for slug, problem in PROBLEM_TYPES.items():
        assert f'href="/problems/{slug}"' in index.text
        page = await empty_client.get(f"/problems/{slug}")
        assert page.status_code == 200, slug
        assert problem.title in page.text
    missing = await empty_client.get("/problems/no-such-problem")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


async def test_a_problem_documents_type_resolves_to_its_page(empty_client: httpx.AsyncClient) -> None:
    refused = await empty_client.get("/api/v1/words?limit=0")
    assert refused.status_code == 422
    page = await empty_client.get(refused.json()["type"])
    assert page.status_code == 200
    assert "Validation Failed" in page.text


async def test_the_asyncapi_page_renders_every_channel_operation_and_message(empty_client: httpx.AsyncClient) -> None:
    document = json.loads(bundled_asyncapi())
    served = await empty_client.get("/asyncapi.json")
    assert served.status_code == 200
    assert served.json() == document
    page = await empty_client.get("/asyncapi")
    assert page.status_code == 200
    assert "<script" not in page.text
    for name, channel in document["channels"].items():
        assert f'id="channel-{name}"' in page.text
        assert channel["address"] in page.text
    for name in document["operations"]:
        assert f'id="operation-{name}"' in page.text
    for name in document["components"]["messages"]:
        assert f'id="message-{name}"' in page.text
    for anchor in re.findall(r'href="#([^"]+)"', page.text):  # every in-page link has its target
        assert f'id="{anchor}"' in page.text, anchor


async def test_without_docs_the_landing_page_and_problem_pages_stay(docs_off: httpx.AsyncClient) -> None:
    landing = await docs_off.get("/")
    assert landing.status_code == 200
    assert 'href="/docs"' not in landing.text
    assert (await docs_off.get("/asyncapi")).status_code == 404
    assert (await docs_off.get("/asyncapi.json")).status_code == 200
    assert (await docs_off.get("/problems/validation")).status_code == 200
