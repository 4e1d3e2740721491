"""Constants and helpers shared by the SDK's test modules (`test_sdk_*.py`)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from seed import SAMPLE_ENTRIES

from lexica.words.keys import lookup_key
from lexica_client import Lexica
from lexica_client._api.api.users import create_api_key
from lexica_client.models import ApiKeyCreated, ApiKeyRequest

ALL_HEADWORDS = sorted((entry.headword for entry in SAMPLE_ENTRIES), key=lookup_key)
PASSWORD = "Quiet-Lantern-47-Orchard"
JOBS_ADMIN_EMAIL = "sdk-jobs-admin@lexica.test"


def entry_json(headword: str, definition: str = "A generated entry.") -> dict[str, Any]:
    """An entry as the import endpoint takes it: one noun with one definition."""
    section = {
        "part_of_speech": "n.",
        "etymology": None,
        "definitions": [{"text": definition, "examples": []}],
        "compounds": None,
        "synonyms": None,
    }
    return {"headword": headword, "parts_of_speech": [section]}


def jobs_api_key(base_url: str, email: str) -> str:
    with Lexica(base_url, timeout=10.0) as lexica:
        lexica.sign_in(email, PASSWORD)
        response = create_api_key.sync_detailed(client=lexica.api_client, body=ApiKeyRequest(name="sdk job tests"))
    assert isinstance(response.parsed, ApiKeyCreated)
    return response.parsed.key


def new_jobs_reader(base_url: str) -> str:
    """The API key of a newly registered user without the admin role."""
    email = f"sdk-jobs-{uuid.uuid4().hex[:12]}@example.com"
    registered = httpx.post(f"{base_url}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    return jobs_api_key(base_url, email)
