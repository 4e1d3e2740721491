"""A NUL byte in any string the API takes is a 4xx on every backend, never a 5xx (PostgreSQL refuses U+0000).

The walk is driven by the spec: every string parameter (path, query, header), every string member of every
request body (JSON, merge patch, form, NDJSON) and the credential headers of secured operations get a value
holding U+0000, one at a time, against the app on SQLite, PostgreSQL and MongoDB, each a fresh database.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lexica.auth import passwords
from lexica.platform.docs import bundled_spec
from lexica.platform.problems import unstorable_text_problem
from lexica.storage.sql.database import create_engine
from tests.auth.conftest import FAST_HASHER
from tests.conftest import _client, make_settings

ADMIN = ("walker@lexica.test", "a long and private passphrase")
NUL = "a\x00b"
SPEC: dict[str, Any] = json.loads(bundled_spec())
METHODS = ("get", "put", "post", "patch", "delete")
HEX32 = "^[0-9a-f]{32}$"
MERGE_PATCH = "application/merge-patch+json"


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _string_example(schema: dict[str, Any], name: str, ids: dict[str, str]) -> str:
    if "enum" in schema:
        return str(schema["enum"][0])
    if "const" in schema:
        return str(schema["const"])
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    if schema.get("format") == "password":
        return "another long passphrase of mine"
    if name == "email":
        return "someone@example.com"
    if schema.get("pattern") == HEX32:
        return ids.get(name, "0" * 32)
    if schema.get("pattern") == "^[0-9]{6}$":
        return "123456"
    return ids.get(name, "apple")


def example(schema: dict[str, Any], ids: dict[str, str], name: str = "") -> Any:
    """A value of the schema with every optional member present, so that every string of it gets its turn."""
    schema = _resolve(schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [_resolve(option) for option in schema[key]]
            return example(next(o for o in options if o.get("type") != "null"), ids, name)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(part, ids, name)
            merged.update(value if isinstance(value, dict) else {})
        return merged
    kind = schema.get("type", "object")
    kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
    if kind == "object":
        return {key: example(sub, ids, key) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema["items"], ids, name)]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return _string_example(schema, name, ids)


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, member in value.items():
            yield from _string_paths(member, (*path, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from _string_paths(member, (*path, index))


def _with_nul(value: Any, path: tuple[Any, ...]) -> Any:
    changed = copy.deepcopy(value)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = NUL
    return changed


def _parameters(path_item: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [_resolve(p) for p in (*path_item.get("parameters", ()), *operation.get("parameters", ()))]


def _url(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def _body(media_type: str, value: Any) -> dict[str, Any]:
    if media_type == "application/x-www-form-urlencoded":
        return {"data": value}
    if media_type == "application/x-ndjson":
        return {"content": json.dumps(value) + "\n"}
    return {"content": json.dumps(value)}


Case = tuple[str, str, str, dict[str, Any]]


def cases(ids: dict[str, str]) -> Iterator[Case]:
    """(what is walked, method, url, request arguments): one NUL-bearing value per case."""
    for template, path_item in SPEC["paths"].items():
        for method in METHODS:
            if method in path_item:
                yield from _operation_cases(template, method, path_item, ids)


def _operation_cases(template: str, method: str, path_item: dict[str, Any], ids: dict[str, str]) -> Iterator[Case]:
    operation = path_item[method]
    parameters = _parameters(path_item, operation)
    path_values = {p["name"]: example(p["schema"], ids, p["name"]) for p in parameters if p["in"] == "path"}
    query = {p["name"]: example(p["schema"], ids, p["name"]) for p in parameters if p["in"] == "query"}
    query = {name: value for name, value in query.items() if isinstance(value, str)}
    headers = {"If-Match": "*"} if any(p["name"] == "If-Match" for p in parameters) else {}
    media_type, schema = next(iter(operation.get("requestBody", {}).get("content", {}).items()), (None, None))
    body = example(schema["schema"], ids) if schema else None
    if media_type:
        headers["Content-Type"] = media_type
    base = {"params": query, "headers": headers, **(_body(media_type, body) if media_type else {})}

    def request(what: str, values: dict[str, str], **changes: Any) -> Case:
        arguments = {**copy.deepcopy(base), **changes}
        return f"{operation['operationId']} {what}", method.upper(), _url(template, values), arguments

    for parameter in parameters:
        name, where = parameter["name"], parameter["in"]
        if _resolve(parameter["schema"]).get("type") not in ("string", ["string", "null"]):
            continue
        if where == "path":
            yield request(f"path {name}", {**path_values, name: NUL})
        elif where == "query":
            yield request(f"query {name}", path_values, params={**query, name: NUL})
        elif where == "header":
            yield request(f"header {name}", path_values, headers={**headers, name: NUL})
    if media_type:
        for string_path in _string_paths(body):
            yield request(f"body {string_path}", path_values, **_body(media_type, _with_nul(body, string_path)))
    if operation.get("security"):
        yield request("X-API-Key", path_values, headers={**headers, "X-API-Key": f"lx_{NUL}"})
        yield request("bearer", path_values, headers={**headers, "Authorization": f"Bearer {NUL}"})


@pytest.fixture
async def api(storage_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setattr(passwords, "_HASHER", FAST_HASHER)  # the walk is about text, not password hashing
    settings = make_settings(storage_url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]))
    async for client in _client(settings):
        token = await client.post(
            "/api/v1/auth/token", data={"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def _seed_ids(api: httpx.AsyncClient) -> dict[str, str]:
    """A real entry and list, so that lookups and writes with NUL-bearing values reach storage."""
    entry = await api.post("/api/v1/words", json={"headword": "apple", "parts_of_speech": []})
    assert entry.status_code == 201, entry.text
    created = await api.post("/api/v1/lists", json={"name": "Walk", "visibility": "private"})
    assert created.status_code == 201, created.text
    return {"list_id": created.json()["id"], "headword": "apple", "q": "apple"}


async def test_a_nul_byte_in_any_string_of_the_spec_is_never_a_5xx(api: httpx.AsyncClient) -> None:
    ids = await _seed_ids(api)
    failures, walked = [], 0
    for what, method, url, arguments in cases(ids):
        walked += 1
        response = await api.request(method, url, **arguments)
        if response.status_code >= 500:
            failures.append(f"{what}: {method} {url} -> {response.status_code} {response.text[:200]}")
        else:
            assert response.status_code < 300 or response.headers["content-type"].startswith("application/")
    assert walked > 100  # the walk reached every operation, not a handful
    assert failures == []


REPORTED: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/words/a%00b", {}),
    ("GET", "/api/v1/words", {"params": {"prefix": NUL}}),
    ("GET", "/api/v1/words", {"params": {"cursor": NUL}}),
    ("GET", "/api/v1/search", {"params": {"q": NUL}}),
    ("POST", "/api/v1/auth/register", {"json": {"email": f"{NUL}@example.com", "password": ADMIN[1] + "!"}}),
    ("POST", "/api/v1/lists", {"json": {"name": NUL}}),
    ("POST", "/api/v1/users/me/api-keys", {"json": {"name": NUL}}),
    ("POST", "/api/v1/words", {"json": {"headword": NUL, "parts_of_speech": []}}),
    ("POST", "/api/v1/users/me/mfa/totp/confirm", {"json": {"code": "12\x003456"}}),
]


async def test_the_reported_nul_inputs_are_validation_problems(api: httpx.AsyncClient) -> None:
    ids = await _seed_ids(api)
    section = {"part_of_speech": "n.", "etymology": None, "compounds": None, "synonyms": None}
    patch = {"parts_of_speech": [{**section, "definitions": [{"text": NUL, "examples": []}]}]}
    for method, url, arguments in [
        *REPORTED,
        ("POST", f"/api/v1/lists/{ids['list_id']}/words", {"json": {"headwords": [NUL]}, "headers": {"If-Match": "*"}}),
        (
            "PATCH",
            "/api/v1/words/apple",
            {
                "content": json.dumps(patch),
                "headers": {"If-Match": "*", "Content-Type": "application/merge-patch+json"},
            },
        ),
    ]:
        response = await api.request(method, url, **arguments)
        assert response.status_code == 422, f"{method} {url}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json")


def test_postgresql_refusing_a_nul_byte_is_recognised_as_the_clients_text(postgres_database: Any) -> None:
    """Defence in depth: if a NUL byte ever got past the spec's patterns, the answer is a 422, not a 500."""
    url = postgres_database()

    async def refused() -> BaseException:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                with pytest.raises(DBAPIError) as raised:
                    await connection.execute(text("SELECT CAST(:value AS text)"), {"value": NUL})
            return raised.value
        finally:
            await engine.dispose()

    response = unstorable_text_problem(asyncio.run(refused()), "/somewhere")
    assert response is not None
    assert response.status_code == 422
    assert unstorable_text_problem(RuntimeError("not about text"), "/somewhere") is None
