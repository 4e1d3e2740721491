"""Password hashing (argon2id) and the rules a new password must meet."""

from __future__ import annotations

import re

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lexica.platform.problems import field_error, validation_problem

MIN_LENGTH = 12
MAX_LENGTH = 128

# Argon2id with the RFC 9106 "second recommended option" memory (64 MiB), 3 passes.
_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)

# Passwords at the top of public breach corpora that meet the length rule, compared case-insensitively.
_BREACHED = frozenset(
    {
        "123456789012", "1234567890123", "12345678910", "1q2w3e4r5t6y", "qwertyuiopas", "qwertyuiop123",
        "password1234", "password12345", "passw0rd1234", "iloveyou1234", "123123123123", "111111111111",
        "000000000000", "abc123abc123", "qwerty123456", "1qaz2wsx3edc", "zaq12wsxcde3", "football1234",
        "baseball1234", "superman1234", "letmein12345", "welcome12345", "administrator", "trustno1trustno1",
        "princess1234", "sunshine1234", "changeme1234", "passwordpassword", "qwertyqwerty", "asdfghjkl123",
        "monkey123456", "dragon123456", "michael12345", "starwars1234", "whatever1234", "correcthorsebatterystaple",
    }
)  # fmt: skip
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "0987654321")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


# A real hash of a random password: verifying against it when the account does not exist makes a failed
# login take as long whether or not the email is registered.
DUMMY_HASH = _HASHER.hash("lexica-dummy-password-for-timing")


def _weakness(password: str, email: str) -> str | None:
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    if len(set(lowered)) <= 3:
        return "uses too few different characters"
    if lowered in _BREACHED:
        return "is one of the most common breached passwords"
    compact = re.sub(r"[^a-z0-9]", "", lowered)
    if compact and any(compact in row * 3 for row in _KEYBOARD_ROWS):
        return "is a keyboard or number sequence"
    if re.fullmatch(r"(.{1,4})\1+", lowered):
        return "repeats a short pattern"
    if len(local_part) >= 4 and local_part in lowered:
        return "contains your email address"
    return None


def check_new_password(password: str, email: str) -> None:
    """Raise a 422 problem naming the rule a new password breaks."""
    reason: str | None = None
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        reason = f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    else:
        reason = _weakness(password, email)
    if reason is not None:
        raise validation_problem(
            f"The password {reason}.", field_error(["body", "password"], f"Password {reason}.", "weak")
        )
