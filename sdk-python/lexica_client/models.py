"""Every model of the API, re-exported from the generated package so new ones appear on regeneration.

The generated `ValidationError` (one entry of a 422's `errors`) is also importable as `ValidationErrorItem`,
which does not clash with the `lexica_client.ValidationError` exception.
"""

from lexica_client._api.models import *  # noqa: F403
from lexica_client._api.models import ValidationError as ValidationErrorItem
from lexica_client._api.models import __all__ as _generated_all

__all__ = [*_generated_all, "ValidationErrorItem"]
