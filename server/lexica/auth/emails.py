"""Email addresses as account identifiers: one spelling per address, and nothing invisible in it.

Two addresses that look the same must be the same account: an address is compared after Unicode NFKC
normalisation (full-width and compatibility forms fold to their plain letters), with surrounding whitespace
removed and case folded. Characters that show nothing or change the display of the text around them (format
characters such as U+200B ZERO WIDTH SPACE or U+202E RIGHT-TO-LEFT OVERRIDE, controls, separators, private-use and
unassigned code points) are refused at registration: normalisation cannot fold them away without merging
addresses that mail servers treat as different.
"""

from __future__ import annotations

import unicodedata

from lexica.platform.problems import ProblemError, field_error, validation_problem

# Cc control, Cf format, Co private use, Cn unassigned, Cs surrogate, Zl/Zp line/paragraph separator, Zs space.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp", "Zs"})


def normalise_email(email: str) -> str:
    """The form an address is stored and looked up in (registration, sign-in, the first admin)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).strip().casefold())


def hidden_characters(email: str) -> list[str]:
    """The code points of `email` that a reader cannot see or that alter how the rest displays, as U+XXXX."""
    return [f"U+{ord(char):04X}" for char in email if unicodedata.category(char) in _REFUSED_CATEGORIES]


def check_new_email(email: str) -> None:
    """Refuse, as a 422, an address (already normalised) holding invisible or control characters."""
    hidden = hidden_characters(email)
    if hidden:
        raise invalid_email(f"The email holds characters that cannot be seen or are not allowed: {', '.join(hidden)}.")


def invalid_email(detail: str) -> ProblemError:
    return validation_problem(detail, field_error(["body", "email"], detail, "email_invisible_characters"))
