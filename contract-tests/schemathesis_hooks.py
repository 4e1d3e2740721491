"""Schemathesis extensions for Lexica's media types; imported by the in-process tests and, through
SCHEMATHESIS_HOOKS, by the CLI run against a live server."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """An NDJSON upload whose schema describes one line: the generated value is sent as a one-line file."""
    return json.dumps(value).encode() + b"\n"
