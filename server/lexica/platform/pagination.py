"""Opaque, tamper-evident cursors for keyset pagination, shared by every listing endpoint."""

from __future__ import annotations

from urllib.parse import urlencode

from itsdangerous import BadData, URLSafeSerializer

from lexica.platform.problems import ProblemError


class CursorCodec:
    """Signs `(scope, position)` pairs; a cursor only decodes for the listing scope it was issued for."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="lexica.cursor.v1")

    def encode(self, scope: str, position: str) -> str:
        return self._serializer.dumps([scope, position])

    def decode(self, scope: str, cursor: str) -> str:
        try:
            payload = self._serializer.loads(cursor)
        except (BadData, UnicodeError, ValueError) as exc:
            raise invalid_cursor("The cursor is malformed or was altered; start again without a cursor.") from exc
        if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload)):
            raise invalid_cursor("The cursor is malformed; start again without a cursor.")
        issued_scope, position = payload
        if issued_scope != scope:
            raise invalid_cursor("The cursor was issued for another listing; start again without a cursor.")
        return str(position)


def invalid_cursor(detail: str) -> ProblemError:
    return ProblemError(400, detail, slug="invalid-cursor", title="Invalid Cursor")


def next_page_link(path: str, limit: int, cursor: str | None) -> str | None:
    """The `links.next` of a page: the same listing at `cursor`, or None on the last page."""
    return f"{path}?{urlencode({'limit': str(limit), 'cursor': cursor})}" if cursor is not None else None
