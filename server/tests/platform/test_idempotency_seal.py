"""Recorded responses are sealed: no secret readable at rest, and only the caller who made the request opens them."""

from __future__ import annotations

from lexica.platform.idempotency_seal import Completed, ResponseSealer, StoredResponse

SECRET = "a server secret that is long enough for the tests"
CALLER = b"credentials\n\nBearer some-access-token"
RECORD = Completed(
    fingerprint=b"\x01" * 32,
    response=StoredResponse(201, [("content-type", "application/json")], b'{"key": "lx_0123abcd_TheWholeSecret"}'),
)


def test_a_sealed_record_shows_nothing_of_the_response() -> None:
    sealer = ResponseSealer(SECRET)
    key = sealer.store_key(CALLER, "idem-1")
    sealed = sealer.seal(RECORD, caller=CALLER, store_key=key)
    assert b"TheWholeSecret" not in sealed
    assert b"application/json" not in sealed
    assert sealer.open(sealed, caller=CALLER, store_key=key) == RECORD


def test_another_caller_or_key_cannot_open_a_record() -> None:
    sealer = ResponseSealer(SECRET)
    key = sealer.store_key(CALLER, "idem-1")
    sealed = sealer.seal(RECORD, caller=CALLER, store_key=key)
    assert sealer.open(sealed, caller=b"credentials\n\nBearer another-token", store_key=key) is None
    assert sealer.open(sealed, caller=CALLER, store_key=sealer.store_key(CALLER, "idem-2")) is None
    assert ResponseSealer("another server secret, also long enough").open(sealed, caller=CALLER, store_key=key) is None
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert sealer.open(altered, caller=CALLER, store_key=key) is None


def test_store_keys_are_per_caller_and_reveal_neither_caller_nor_key() -> None:
    sealer = ResponseSealer(SECRET)
    mine, theirs = sealer.store_key(CALLER, "idem-1"), sealer.store_key(b"address\n127.0.0.1", "idem-1")
    assert mine != theirs
    assert "idem-1" not in mine
    assert ResponseSealer("another server secret, also long enough").store_key(CALLER, "idem-1") != mine
