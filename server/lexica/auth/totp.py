"""TOTP (RFC 6238) with secrets encrypted at rest and replay refused within a time step."""

from __future__ import annotations

import base64
import secrets
import time

import pyotp
from cryptography.fernet import Fernet, InvalidToken

from lexica.auth.tokens import derive_key

ISSUER = "Lexica"
STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10


class SecretBox:
    """Encrypts TOTP secrets with a key derived from the configured secret."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "totp")))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("the TOTP secret cannot be decrypted with the configured secret key") from exc


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def matching_step(secret: str, code: str, *, now: float | None = None, window: int = 1) -> int | None:
    """The time step (counter) whose code equals `code`, looking `window` steps either side; None if none."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in range(current - window, current + window + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]
