"""What each problem `type` Lexica sends means: the page at `/problems/{slug}` (lexica.platform.pages) renders it.

A problem document's `type` is a URI reference that names the kind of error; RFC 9457 asks that, when it can be
dereferenced, it gives human-readable documentation. Every slug the server sends is listed here:
`server/tests/platform/test_pages.py` finds every `/problems/...` type and `slug=` in the server's code and fails on
one that has no entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProblemType:
    title: str
    status: str  # the HTTP status (or statuses) it comes with
    meaning: str
    remedy: str


PROBLEM_TYPES: dict[str, ProblemType] = {
    "validation": ProblemType(
        "Validation Failed",
        "422",
        "A parameter, header or body field breaks the contract: a missing value, a wrong type, a value out of "
        "range or text with control characters. `errors` lists each one with its location (`loc`) and reason.",
        "Correct each value `errors` names and send the request again.",
    ),
    "invalid-cursor": ProblemType(
        "Invalid Cursor",
        "400",
        "The `cursor` is not one Lexica issued for this listing (cursors are signed and bound to the listing and the "
        "caller), or it was damaged on the way.",
        "Use the `next_cursor` (or `links.next`) of the previous page unchanged, or start again without a cursor.",
    ),
    "unauthorized": ProblemType(
        "Unauthorized",
        "401",
        "The operation needs credentials and none were sent, or the bearer token or API key is not valid (expired, "
        "revoked, malformed).",
        "Send `Authorization: Bearer <access token>` or `X-API-Key: <key>`; refresh an expired token.",
    ),
    "forbidden": ProblemType(
        "Forbidden",
        "403",
        "The credentials are valid but their role does not allow this operation (admin operations, exporting the "
        "whole dictionary, the metrics in production).",
        "Ask an admin, or use an account with the role the operation needs.",
    ),
    "conflict": ProblemType(
        "Conflict",
        "409",
        "The resource is not in a state that allows the request: a job that already finished cannot be cancelled, a "
        "job still running cannot be deleted, an export that has not succeeded has no file, a headword that exists "
        "cannot be created again.",
        "Read the resource's current state (the `detail` says what it is) and act on that.",
    ),
    "email-taken": ProblemType(
        "Conflict",
        "409",
        "An account with this email address already exists.",
        "Sign in with that account, or register with another address.",
    ),
    "precondition-failed": ProblemType(
        "Precondition Failed",
        "412",
        "The `If-Match` ETag is not the resource's current one: somebody changed it since you read it. Nothing was "
        "written.",
        "Read the resource again (its new `ETag`), reapply your change and send it with the new ETag.",
    ),
    "precondition-required": ProblemType(
        "Precondition Required",
        "428",
        "A write to an entry or a word list must say which version it changes, so that it cannot overwrite a change "
        "it has not seen. Nothing was written.",
        "Send `If-Match` with the `ETag` of your last read.",
    ),
    "idempotency-key-in-use": ProblemType(
        "Idempotency Key In Use",
        "409",
        "A request with the same `Idempotency-Key` is still being processed.",
        "Wait (`Retry-After`) and send the same request again: it is answered with the first one's response.",
    ),
    "idempotency-key-reused": ProblemType(
        "Idempotency Key Reused",
        "422",
        "The `Idempotency-Key` was used before with a different request (another operation or another body).",
        "Use a new key for each logical request; repeat a key only to retry the very same request.",
    ),
    "unsupported-media-type": ProblemType(
        "Unsupported Media Type",
        "415",
        "The body's `Content-Type` is not one the operation accepts.",
        "Send the body in a media type the operation declares (JSON, or NDJSON for uploads).",
    ),
    "payload-too-large": ProblemType(
        "Payload Too Large",
        "413",
        "The body is larger than the operation allows (`LEXICA_MAX_REQUEST_BODY_BYTES`; uploads have their own limit).",
        "Send a smaller body; split a large upload into several imports.",
    ),
    "request-timeout": ProblemType(
        "Request Timeout",
        "408",
        "The request body stopped arriving: the server waited longer than its body timeout for the next bytes.",
        "Send the request again over a working connection.",
    ),
    "rate-limited": ProblemType(
        "Too Many Requests",
        "429",
        "The caller used up its request quota for the current window (per API key, user or address). The `RateLimit` "
        "and `RateLimit-Policy` headers say how much is left and when it resets.",
        "Wait for `Retry-After` seconds, then go on more slowly.",
    ),
    "login-throttled": ProblemType(
        "Too Many Requests",
        "429",
        "Too many failed sign-ins for this account or from this address: sign-ins are refused for a while.",
        "Wait for `Retry-After` seconds; check the email and password.",
    ),
    "job-limit-reached": ProblemType(
        "Too Many Requests",
        "429",
        "The caller has as many jobs queued or running as allowed, or started as many this hour as allowed.",
        "Wait for a job to finish (or `Retry-After`), then start the next one.",
    ),
    "list-limit-reached": ProblemType(
        "Conflict",
        "409",
        "The caller has as many word lists as an account may have.",
        "Delete a list you no longer need, then create the new one.",
    ),
    "list-full": ProblemType(
        "Conflict",
        "409",
        "The word list holds as many headwords as a list may hold; none of the request's headwords were added.",
        "Remove headwords from the list, or start another list.",
    ),
    "api-key-limit-reached": ProblemType(
        "Conflict",
        "409",
        "The account has as many API keys as it may have.",
        "Revoke a key you no longer use, then create the new one.",
    ),
    "storage-quota-exceeded": ProblemType(
        "Storage Quota Exceeded",
        "429, or the error of a failed export",
        "The caller's uploads and export files would take more space than its quota allows.",
        "Download and delete finished jobs (their files go with them), or wait for `Retry-After` seconds: files "
        "expire with their jobs' retention period.",
    ),
    "job-queue-unavailable": ProblemType(
        "Service Unavailable",
        "503",
        "The job queue (Redis) cannot be reached, so the job was not started. Nothing was done.",
        "Try again after `Retry-After` seconds.",
    ),
    "job-interrupted": ProblemType(
        "Job Interrupted",
        "the error of a failed job",
        "The server running the job stopped before the job finished (a restart or a crash). Batches already written "
        "stay written.",
        "Start the job again; an import skips nothing and overwrites what it wrote the first time.",
    ),
    "entry-not-found": ProblemType(
        "Entry Not Found",
        "404",
        "The dictionary has no entry for the headword asked for (`getEntry`). `suggestions` lists up to five "
        "headwords it does have that are spelt or begin like it, the likeliest first, each with its `href`.",
        "Check the spelling, or follow one of the suggestions.",
    ),
    "worker-lost": ProblemType(
        "Worker Lost",
        "the error of a failed job",
        "The worker running the job stopped answering and the queue's retries are used up.",
        "Start the job again.",
    ),
    "service-unavailable": ProblemType(
        "Service Unavailable",
        "503",
        "A part the operation needs (the database, or Redis where the operation needs it) cannot be reached. Nothing "
        "was done.",
        "Try again after `Retry-After` seconds.",
    ),
    "not-ready": ProblemType(
        "Service Unavailable",
        "503",
        "This instance is not ready to serve: it is starting, loading the dictionary, draining before a stop, or a "
        "part it needs is down. The readiness check's `checks` say which.",
        "A load balancer sends the traffic elsewhere; a client retries after `Retry-After` seconds.",
    ),
    "over-capacity": ProblemType(
        "Service Unavailable",
        "503",
        "This server process is at its limit of open connections (`LEXICA_MAX_CONNECTIONS`); the connection is closed.",
        "Try again after `Retry-After` seconds, preferably on a connection you keep open.",
    ),
    "cors-preflight-refused": ProblemType(
        "Forbidden",
        "403",
        "A browser's CORS preflight asked for an origin, method or header that this deployment does not allow "
        "(`LEXICA_CORS_ORIGINS`).",
        "Call the API from an allowed origin, or ask the operator to allow yours.",
    ),
    "invalid-grant": ProblemType(
        "Invalid Grant",
        "400",
        "OAuth 2.0 (RFC 6749): the email and password, or the refresh token, are not valid (a refresh token is "
        "single-use and expires).",
        "Sign in again with the right credentials.",
    ),
    "invalid-request": ProblemType(
        "Invalid Request",
        "400",
        "OAuth 2.0 (RFC 6749): the token request lacks a field its grant type needs, or has one twice.",
        "Send the form fields the grant type needs (`username` and `password`, or `refresh_token`).",
    ),
    "unsupported-grant-type": ProblemType(
        "Unsupported Grant Type",
        "400",
        "OAuth 2.0 (RFC 6749): the `grant_type` is neither `password` nor `refresh_token`.",
        "Use `grant_type=password` or `grant_type=refresh_token`.",
    ),
}
