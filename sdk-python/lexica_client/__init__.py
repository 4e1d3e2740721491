"""Python client of the Lexica dictionary API.

    from lexica_client import Lexica

    with Lexica("http://127.0.0.1:8000") as lexica:
        entry = lexica.lookup("apple")

    with Lexica("http://127.0.0.1:8000", api_key="...") as lexica:
        created = lexica.create_list("Fruit")
        lexica.add_words(created.value.id, ["apple"], etag=created.etag)

`Lexica` and `AsyncLexica` wrap the low-level client generated from the OpenAPI spec (`lexica_client._api`)
and return its models; every model is also in `lexica_client.models`. Word-list methods return `Tagged`
values: the model and the list's ETag, which every later write to the list needs. Job methods return `Job`;
`follow_job` yields the job's events, the models of `lexica_client.events` (`JobStages`, `JobProgress`,
`JobFinished`; that `JobProgress` is the event, `lexica_client.models.JobProgress` the `Job.progress` member).
"""

from lexica_client._decoders import ExportLine
from lexica_client._runtime import (
    NOT_GIVEN,
    APIResponse,
    AsyncPage,
    AsyncStream,
    NotGiven,
    NotModified,
    Page,
    Stream,
    Tagged,
)
from lexica_client._sse import JobEvent
from lexica_client._version import __version__
from lexica_client.client import DEFAULT_BASE_URL, AsyncLexica, Lexica
from lexica_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InternalServerError,
    LexicaError,
    MethodNotAllowedError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    PreconditionRequiredError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from lexica_client.models import (
    Definition,
    Entry,
    EntryInput,
    EntryNotFoundProblem,
    HeadwordItem,
    HeadwordPage,
    Job,
    JobKind,
    JobPage,
    JobState,
    ListExportLine,
    ListWordItem,
    ListWordPage,
    ListWordsAdded,
    MatchMethod,
    PageLinks,
    PartOfSpeechSection,
    Problem,
    SearchHit,
    SearchMode,
    SearchResults,
    ValidationErrorItem,
    ValidationProblem,
    Visibility,
    WordList,
    WordListPage,
    WordListWithWords,
)
from lexica_client.realtime import Event as RealtimeEvent
from lexica_client.realtime import (
    Realtime,
    RealtimeAuthError,
    RealtimeClosedError,
    RealtimeError,
    ReconnectPolicy,
    SubscriptionError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AsyncLexica",
    "AsyncPage",
    "AsyncStream",
    "BadRequestError",
    "ConflictError",
    "Definition",
    "Entry",
    "EntryInput",
    "EntryNotFoundProblem",
    "ExportLine",
    "ForbiddenError",
    "HeadwordItem",
    "HeadwordPage",
    "InternalServerError",
    "Job",
    "JobEvent",
    "JobKind",
    "JobPage",
    "JobState",
    "Lexica",
    "LexicaError",
    "ListExportLine",
    "ListWordItem",
    "ListWordPage",
    "ListWordsAdded",
    "MatchMethod",
    "MethodNotAllowedError",
    "NotAcceptableError",
    "NotFoundError",
    "NotGiven",
    "NotModified",
    "Page",
    "PageLinks",
    "PartOfSpeechSection",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "Problem",
    "RateLimitedError",
    "Realtime",
    "RealtimeAuthError",
    "RealtimeClosedError",
    "RealtimeError",
    "RealtimeEvent",
    "ReconnectPolicy",
    "RequestTimeoutError",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "ServiceUnavailableError",
    "Stream",
    "SubscriptionError",
    "Tagged",
    "UnauthorizedError",
    "UnexpectedResponseError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "ValidationErrorItem",
    "ValidationProblem",
    "Visibility",
    "WordList",
    "WordListPage",
    "WordListWithWords",
    "__version__",
]
