"""Python client of the Lexica dictionary API.

    from lexica_client import Lexica

    with Lexica("http://127.0.0.1:8000") as lexica:
        entry = lexica.lookup("apple")

`Lexica` and `AsyncLexica` wrap the low-level client generated from the OpenAPI spec (`lexica_client._api`)
and return its models; every model is also in `lexica_client.models`.
"""

from lexica_client._version import __version__
from lexica_client.client import DEFAULT_BASE_URL, AsyncLexica, Lexica
from lexica_client.errors import (
    BadRequestError,
    LexicaError,
    NotFoundError,
    RateLimitedError,
    UnexpectedResponseError,
    ValidationError,
)
from lexica_client.models import (
    Definition,
    Entry,
    HeadwordItem,
    HeadwordPage,
    MatchMethod,
    PageLinks,
    PartOfSpeechSection,
    Problem,
    SearchHit,
    SearchMode,
    SearchResults,
    ValidationErrorItem,
    ValidationProblem,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncLexica",
    "BadRequestError",
    "Definition",
    "Entry",
    "HeadwordItem",
    "HeadwordPage",
    "Lexica",
    "LexicaError",
    "MatchMethod",
    "NotFoundError",
    "PageLinks",
    "PartOfSpeechSection",
    "Problem",
    "RateLimitedError",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "UnexpectedResponseError",
    "ValidationError",
    "ValidationErrorItem",
    "ValidationProblem",
    "__version__",
]
