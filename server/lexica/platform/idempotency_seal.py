"""Idempotent responses at rest: encrypted, and bound to the caller who made the request and to its key.

A stored response may hold a secret shown once (a new API key), so it is never kept in clear: it is sealed with
AES-256-GCM under a key that HKDF derives from the server's secret *and the caller's own credentials*, with the
store key as associated data. A dump of the store reveals nothing, not even with the server's secret alone; a
record cannot be moved to another key. The store key itself is an HMAC of the caller and the Idempotency-Key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_VERSION = b"\x01"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished request: the fingerprint of what was asked and the response it got."""

    fingerprint: bytes
    response: StoredResponse


def _hkdf(material: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=salt, info=info).derive(material)


class ResponseSealer:
    def __init__(self, secret: str) -> None:
        self._master = _hkdf(secret.encode(), salt=None, info=b"lexica:idempotency:v1")
        self._index = _hkdf(self._master, salt=None, info=b"lexica:idempotency:store-key")

    def store_key(self, caller: bytes, key: str) -> str:
        """Where the caller's `key` is kept: nobody else's key maps there, and it does not reveal the caller."""
        return hmac.new(self._index, caller + b"\n" + key.encode(), hashlib.sha256).hexdigest()

    def _aead(self, caller: bytes) -> AESGCM:
        return AESGCM(_hkdf(self._master, salt=hashlib.sha256(caller).digest(), info=b"lexica:idempotency:response"))

    def seal(self, completed: Completed, *, caller: bytes, store_key: str) -> bytes:
        response = completed.response
        plain = orjson.dumps(
            {
                "fingerprint": completed.fingerprint.hex(),
                "status": response.status,
                "headers": response.headers,
                "body": base64.b64encode(response.body).decode(),
            }
        )
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead(caller).encrypt(nonce, plain, store_key.encode())

    def open(self, sealed: bytes, *, caller: bytes, store_key: str) -> Completed | None:
        """The record, or None when it was not sealed for this caller and key (or was altered)."""
        if not sealed.startswith(_VERSION):
            return None
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            plain = self._aead(caller).decrypt(nonce, ciphertext, store_key.encode())
        except InvalidTag:
            return None
        data = orjson.loads(plain)
        response = StoredResponse(
            int(data["status"]),
            [(str(name), str(value)) for name, value in data["headers"]],
            base64.b64decode(data["body"]),
        )
        return Completed(bytes.fromhex(data["fingerprint"]), response)
