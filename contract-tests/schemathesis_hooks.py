"""Schemathesis extensions: Lexica's NDJSON media type, unique idempotency keys, and checks for the semantics the spec
declares beyond schemas and status codes (ETag revalidation, If-Match preconditions, Idempotency-Key replays and
conflicts, RateLimit headers). Imported by the in-process tests and, through SCHEMATHESIS_HOOKS, by the CLI run
against a live server, so both run the same checks, in every phase, the stateful one included.

A check that needs more than the response it is given sends probes: copies of the case (same credentials, same
headers as sent) with one thing changed. A probe never changes state: it is refused (412, 428, 422), answered from a
record (an idempotent replay) or a read (304).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

import schemathesis

IDEMPOTENCY_KEY = "Idempotency-Key"
VALID_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # the spec's IdempotencyKey parameter
STALE_ETAG = '"lexica-semantic-check-stale"'  # an ETag no resource ever has
WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE", "POST"})
PROBE_TIMEOUT_SECONDS = 10
# A probe answered so says nothing of the semantic under test: the quota of the run's client is spent (against
# `make run`'s default quotas a long run meets it), or a part of the server is down.
INCONCLUSIVE = frozenset({429, 503})


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """An NDJSON upload whose schema describes one line: the generated value is sent as a one-line file."""
    return json.dumps(value).encode() + b"\n"


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: Any, kwargs: dict[str, Any]) -> None:
    """Each request gets an `Idempotency-Key` of its own, as the spec asks of clients ("a unique value per logical
    request").

    Generated keys repeat ("0", "!"): Hypothesis favours small values, replays examples and shrinks. A repeated key
    with the same body is a retry, rightly answered with the first response, whose resource may since have been
    deleted; the stateful checks then report a created resource that is not found. A schema-valid key is made
    unique by a fresh prefix, keeping the generated characters (and the 255-character maximum); an invalid one is
    left as generated, so that negative data still tests its rejection. Replays and conflicts have their own tests
    (contract-tests/test_idempotency_live.py, server/tests/platform/test_idempotency*.py).
    """
    value = case.headers.get(IDEMPOTENCY_KEY) if case.headers else None
    if isinstance(value, str) and VALID_IDEMPOTENCY_KEY.fullmatch(value):
        case.headers[IDEMPOTENCY_KEY] = f"{uuid.uuid4().hex}-{value}"[:255]


def _resolve(document: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _declared_response(case: Any, status: int) -> Mapping[str, Any]:
    document = case.operation.schema.raw_schema
    responses = case.operation.definition.raw.get("responses") or {}
    found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default") or {}
    resolved = _resolve(document, found)
    return resolved if isinstance(resolved, Mapping) else {}


def _declared_headers(case: Any, status: int) -> set[str]:
    return {name.lower() for name in (_declared_response(case, status).get("headers") or {})}


def _parameters(case: Any) -> dict[tuple[str, str], Mapping[str, Any]]:
    document = case.operation.schema.raw_schema
    found = {}
    for raw in case.operation.definition.raw.get("parameters") or ():
        parameter = _resolve(document, raw)
        found[(parameter["in"], parameter["name"].lower())] = parameter
    return found


def _header(response: Any, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _sent_headers(response: Any) -> dict[str, str]:
    """The headers the original request carried as sent (credentials from the CLI's --header included)."""
    return {name: value for name, value in response.request.headers.items() if isinstance(value, str)}


def _probe(case: Any, response: Any, *, headers: Mapping[str, str | None], body: Any = ...) -> Any:
    """The case sent again with `headers` changed (None: removed) and, when given, another body."""
    own = {"content-length", "x-schemathesis-testcaseid"}  # the probe's body and id are its own
    sent = {name: value for name, value in _sent_headers(response).items() if name.lower() not in own}
    for name, value in headers.items():
        for existing in [key for key in sent if key.lower() == name.lower()]:
            del sent[existing]
        if value is not None:
            sent[name] = value
    # A new case (the public constructor), not `case.derive`: a derived case shares the original's generation
    # metadata, and a probe's changed body would be revalidated into it, turning the original's record negative.
    probe = case.operation.Case(
        method=case.method,
        path_parameters=dict(case.path_parameters or {}),
        headers=dict(sent),
        cookies=dict(case.cookies or {}),
        query=dict(case.query or {}),
        body=case.body if body is ... else body,
        media_type=case.media_type,
    )
    kwargs: dict[str, Any] = {} if case.operation.app is not None else {"timeout": PROBE_TIMEOUT_SECONDS}
    answer = probe.call(headers=sent, **kwargs)
    if answer.status_code in INCONCLUSIVE:
        raise _Inconclusive
    return answer


class _Inconclusive(Exception):
    """A probe was refused for a reason of its own (the client's quota, a part of the server down): the check
    cannot say anything of this case."""


def _conclusive(check: Any) -> Any:
    """A check whose probe was answered 429 or 503 passes no verdict (None), as Schemathesis reads it."""

    def run(ctx: Any, response: Any, case: Any) -> bool | None:
        try:
            result: bool | None = check(ctx, response, case)
        except _Inconclusive:
            return None
        return result

    run.__name__ = check.__name__
    run.__doc__ = check.__doc__
    return run


def _fail(case: Any, title: str, message: str) -> NoReturn:
    """Schemathesis reports an AssertionError raised by a check as that check's failure, with the case to reproduce."""
    raise AssertionError(f"{title} ({case.operation.label}): {message}")


def _rate_limited(case: Any) -> bool:
    return bool(case.operation.definition.raw.get("x-lexica-rate-limit", "limited") != "exempt")


_RATE_LIMIT = re.compile(r'^"[a-z]+";r=\d+;t=\d+$')
_RATE_LIMIT_POLICY = re.compile(r'^"[a-z]+";q=\d+;w=\d+$')


@schemathesis.check
def rate_limit_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every response the spec says carries `RateLimit` and `RateLimit-Policy` has both, well formed (IETF
    draft-ietf-httpapi-ratelimit-headers, as the spec's examples write them); an exempt operation has neither."""
    declared = _declared_headers(case, response.status_code)
    present = {name for name in ("ratelimit", "ratelimit-policy") if _header(response, name) is not None}
    if not _rate_limited(case):
        if present:
            _fail(case, "RateLimit headers on an exempt operation", f"{sorted(present)} on {response.status_code}")
        return None
    if response.status_code >= 500 or not {"ratelimit", "ratelimit-policy"} <= declared:
        return None
    if present != {"ratelimit", "ratelimit-policy"}:
        _fail(
            case,
            "Missing RateLimit headers",
            f"The spec says a {response.status_code} carries RateLimit and RateLimit-Policy; it had {sorted(present)}",
        )
    limit, policy = _header(response, "ratelimit") or "", _header(response, "ratelimit-policy") or ""
    if not _RATE_LIMIT.match(limit) or not _RATE_LIMIT_POLICY.match(policy):
        _fail(case, "Malformed RateLimit headers", f"RateLimit: {limit!r}, RateLimit-Policy: {policy!r}")
    return True


@schemathesis.check
@_conclusive
def etag_revalidation(ctx: Any, response: Any, case: Any) -> bool | None:
    """A GET answered 200 with an ETag, on an operation that takes `If-None-Match`: the same request with that ETag
    is a 304 with the same ETag and no body; with another ETag, a 200."""
    if (
        case.method.upper() != "GET"
        or response.status_code != 200
        or ("header", "if-none-match") not in _parameters(case)
    ):
        return None
    etag = _header(response, "etag")
    if etag is None:
        if "etag" in _declared_headers(case, 200):
            _fail(case, "Missing ETag", "The spec declares an ETag on this 200; the response had none")
        return None
    fresh = _probe(case, response, headers={"If-None-Match": etag, "Cache-Control": None})
    if fresh.status_code != 304:
        _fail(case, "ETag not revalidated", f"If-None-Match: {etag} answered {fresh.status_code}, not 304")
    if fresh.content:
        _fail(case, "304 with a body", f"If-None-Match: {etag} answered 304 with {len(fresh.content)} bytes")
    if _header(fresh, "etag") != etag:
        _fail(case, "304 with another ETag", f"sent {etag}, the 304 says {_header(fresh, 'etag')}")
    other = _probe(case, response, headers={"If-None-Match": STALE_ETAG, "Cache-Control": None})
    if other.status_code != 200:
        _fail(case, "Another ETag not answered in full", f"If-None-Match: {STALE_ETAG} answered {other.status_code}")
    return True


@schemathesis.check
@_conclusive
def if_match_preconditions(ctx: Any, response: Any, case: Any) -> bool | None:
    """A write the spec guards with `If-Match` that succeeded: without `If-Match` it is a 428, with an ETag the
    resource never had a 412 (after a DELETE that succeeded the resource is gone: 404, as RFC 9110 13.2.1 says a
    server answers when the request without its precondition would not succeed); nothing is written either way."""
    parameter = _parameters(case).get(("header", "if-match"))
    if case.method.upper() not in WRITE_METHODS or parameter is None or not 200 <= response.status_code < 300:
        return None
    gone = case.method.upper() == "DELETE"
    stale = _probe(case, response, headers={"If-Match": STALE_ETAG})
    if stale.status_code != (404 if gone else 412):
        _fail(case, "Stale If-Match not refused", f"If-Match: {STALE_ETAG} answered {stale.status_code}")
    if parameter.get("required"):
        return True  # a request without it is negative data, which Schemathesis checks itself
    missing = _probe(case, response, headers={"If-Match": None})
    # A deleted resource: without If-Match, either answer is right (RFC 9110 13.2.1 has a server ignore
    # preconditions it would not evaluate, so 404; the requirement to send one, RFC 6585, may come first, 428).
    if missing.status_code not in ((404, 428) if gone else (428,)):
        _fail(case, "Missing If-Match not refused", f"the request without If-Match answered {missing.status_code}")
    return True


@schemathesis.check
@_conclusive
def idempotent_replay(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request with an `Idempotency-Key` on an operation that declares it, answered 2xx: sent again with the same
    key and body it gets the same status and body with `Idempotent-Replayed: true`; with the same key and another
    body, a 422 `/problems/idempotency-key-reused`."""
    key = response.request.headers.get(IDEMPOTENCY_KEY)  # requests' headers: looked up whatever their case
    declared = ("header", IDEMPOTENCY_KEY.lower()) in _parameters(case)
    if not declared or key is None or not VALID_IDEMPOTENCY_KEY.fullmatch(key) or not 200 <= response.status_code < 300:
        return None
    replay = _probe(case, response, headers={IDEMPOTENCY_KEY: key})
    if replay.status_code != response.status_code or replay.content != response.content:
        _fail(
            case,
            "Idempotency-Key not replayed",
            f"the same request with key {key!r} answered {replay.status_code} (first {response.status_code}), "
            f"{'the same' if replay.content == response.content else 'another'} body",
        )
    if _header(replay, "idempotent-replayed") != "true":
        _fail(case, "Replay not marked", "a replayed answer lacks `Idempotent-Replayed: true`")
    if isinstance(case.body, dict):
        changed = {**case.body, "lexica_semantic_check": True}
        conflict = _probe(case, response, headers={IDEMPOTENCY_KEY: key}, body=changed)
        problem_type = _problem_type(conflict)
        if conflict.status_code != 422 or problem_type != "/problems/idempotency-key-reused":
            _fail(
                case,
                "Idempotency-Key reuse not refused",
                f"the key {key!r} with another body answered {conflict.status_code} ({problem_type})",
            )
    return True


def _problem_type(response: Any) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None
