"""The semantic checks of schemathesis_hooks.py can fail: each passes on the real app's answer and fails on the same
answer with the semantic broken (a missing header, another ETag, another body), so a fuzz run that reports nothing
from them has checked something."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis_hooks as checks
from conftest import seed_database
from pydantic import SecretStr
from schemathesis.core.transport import Response
from seed import SAMPLE_ENTRIES

from lexica.app import create_app
from lexica.settings import Settings

Check = Callable[[Any, Response, Any], bool | None]


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("semantic-checks")
    settings = Settings(
        database_url=seed_database(directory, SAMPLE_ENTRIES),
        environment="test",
        tune_gc=False,
        secret_key=SecretStr("semantic-checks-secret-key-long-enough-for-any-check"),
        rate_limit_enabled=True,
        job_files_dir=Path(directory) / "jobs",
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


def _tampered(
    response: Response, *, drop: tuple[str, ...] = (), headers: dict[str, str] | None = None, **changes: Any
) -> Response:
    kept = {name: value for name, value in response.headers.items() if name not in drop}
    kept.update({name.lower(): [value] for name, value in (headers or {}).items()})
    return Response(
        status_code=changes.get("status_code", response.status_code),
        headers=kept,
        content=changes.get("content", response.content),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
    )


def _passes_then_fails(check: Check, case: Any, response: Response, broken: Response) -> None:
    assert check(None, response, case) is True
    with pytest.raises(AssertionError):
        check(None, broken, case)


def test_rate_limit_headers(schema: Any) -> None:
    case = schema["/api/v1/words/{headword}"]["GET"].Case(path_parameters={"headword": "apple"})
    response = case.call()
    assert response.status_code == 200
    _passes_then_fails(checks.rate_limit_headers, case, response, _tampered(response, drop=("ratelimit",)))
    garbled = _tampered(response, headers={"RateLimit": "plenty"})
    with pytest.raises(AssertionError):
        checks.rate_limit_headers(None, garbled, case)


def test_etag_revalidation(schema: Any) -> None:
    case = schema["/api/v1/words/{headword}"]["GET"].Case(path_parameters={"headword": "apple"})
    response = case.call()
    other_etag = _tampered(response, headers={"ETag": '"1-not-this-entry"'})  # a 304 must come for the real one
    _passes_then_fails(checks.etag_revalidation, case, response, other_etag)


def _signed_in(schema: Any) -> dict[str, str]:
    email = f"semantic-{uuid.uuid4().hex}@example.com"
    password = "a long passphrase for the checks"
    registered = schema["/api/v1/auth/register"]["POST"].Case(body={"email": email, "password": password}).call()
    assert registered.status_code == 201, registered.content
    token = (
        schema["/api/v1/auth/token"]["POST"]
        .Case(
            body={"grant_type": "password", "username": email, "password": password},
            media_type="application/x-www-form-urlencoded",
        )
        .call()
    )
    assert token.status_code == 200, token.content
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_idempotent_replay(schema: Any) -> None:
    headers = {**_signed_in(schema), "Idempotency-Key": f"semantic-{uuid.uuid4().hex}"}
    case = schema["/api/v1/lists"]["POST"].Case(headers=headers, body={"name": "Semantic"})
    response = case.call()
    assert response.status_code == 201, response.content
    _passes_then_fails(checks.idempotent_replay, case, response, _tampered(response, content=b'{"other": 1}'))


def test_if_match_preconditions(schema: Any) -> None:
    credentials = _signed_in(schema)
    created = schema["/api/v1/lists"]["POST"].Case(headers=credentials, body={"name": "Guarded"}).call()
    list_id, etag = created.json()["id"], created.headers["etag"][0]
    case = schema["/api/v1/lists/{list_id}"]["PATCH"].Case(
        path_parameters={"list_id": list_id},
        headers={**credentials, "If-Match": etag},
        body={"name": "Guarded, renamed"},
        media_type="application/merge-patch+json",
    )
    response = case.call()
    assert response.status_code == 200, response.content
    assert checks.if_match_preconditions(None, response, case) is True
    # The same answer claimed for a DELETE: a stale If-Match on a resource that is still there is a 412, not the
    # 404 a deleted resource gives, so the check fails.
    delete = schema["/api/v1/lists/{list_id}"]["DELETE"].Case(
        path_parameters={"list_id": list_id}, headers={**credentials, "If-Match": response.headers["etag"][0]}
    )
    with pytest.raises(AssertionError):
        checks.if_match_preconditions(None, _tampered(response, status_code=204, content=b""), delete)
