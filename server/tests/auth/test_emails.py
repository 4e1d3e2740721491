"""An email is one account however it is spelled: normalised (NFKC, case), and invisible characters refused."""

from __future__ import annotations

import httpx
import pytest

from lexica.auth.audit_log import AuditLog
from lexica.auth.emails import hidden_characters, normalise_email
from lexica.auth.registration import Registration
from lexica.platform.problems import ProblemError
from tests.auth.conftest import Server
from tests.auth.helpers import STRONG_PASSWORD, assert_problem, new_email, password_grant, register


def _fullwidth(text: str) -> str:
    """`text` with its ASCII letters in their FULLWIDTH compatibility forms (U+FF21...), which NFKC folds back."""
    return "".join(chr(ord(char) + 0xFEE0) if char.isascii() and char.isalpha() else char for char in text)


@pytest.mark.parametrize(
    "suffix",
    ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2028", "\x00", "\x1f", "\x7f"],
)
async def test_an_email_with_an_invisible_character_is_refused(api: httpx.AsyncClient, suffix: str) -> None:
    email = new_email()
    response = await register(api, email + suffix)
    body = assert_problem(response, 422)
    assert body["errors"][0]["location"] == ["body", "email"]
    assert (await register(api, email)).status_code == 201  # the visible address itself is fine


async def test_the_service_refuses_format_characters_the_spec_pattern_does_not_list(server: Server) -> None:
    registration = Registration(server.storage.users, AuditLog(server.storage.audit))
    with pytest.raises(ProblemError) as refused:
        await registration.register(
            "tagged\U000e0041@example.com", STRONG_PASSWORD, None
        )  # U+E0041 TAG LATIN CAPITAL A
    assert refused.value.status == 422


async def test_a_compatibility_spelling_of_a_registered_email_is_the_same_account(api: httpx.AsyncClient) -> None:
    assert (await register(api, "Ada.Lovelace@Example.com")).status_code == 201
    fullwidth = _fullwidth("ada.lovelace@example.com")
    taken = await register(api, fullwidth)
    assert_problem(taken, 409)
    signed_in = await password_grant(api, fullwidth, STRONG_PASSWORD)
    assert signed_in.status_code == 200, signed_in.text


async def test_sign_in_with_an_invisible_character_does_not_reach_the_account(api: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await register(api, email)).status_code == 201
    response = await password_grant(api, email + "\u200b", STRONG_PASSWORD)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_normalisation_folds_case_width_and_surrounding_space_only() -> None:
    assert normalise_email("  Ada@EXAMPLE.com\t") == "ada@example.com"
    assert normalise_email(_fullwidth("bob@example.com")) == "bob@example.com"
    assert normalise_email("bob@example.com\u200b") == "bob@example.com\u200b"  # kept, so that it is refused
    assert hidden_characters("bob@example.com\u200b") == ["U+200B"]
    assert hidden_characters("zoë@exämple.com") == []
