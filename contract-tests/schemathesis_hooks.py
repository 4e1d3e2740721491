"""Schemathesis extensions for Lexica's media types; imported by the in-process tests and, through
SCHEMATHESIS_HOOKS, by the CLI run against a live server."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import schemathesis

IDEMPOTENCY_KEY = "Idempotency-Key"
VALID_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # the spec's IdempotencyKey parameter


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
