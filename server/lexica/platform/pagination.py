"""Opaque, tamper-evident cursors for keyset pagination, shared by every listing endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
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


RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class KeysetPage(Generic[RowT]):
    rows: list[RowT]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class Keyset:
    """Keyset pagination of one listing: the cursor carries the position of the last row of the previous page
    (signed, bound to `scope`), a page asks storage for one row more than it shows, and that extra row says
    whether a next page exists (no count, no offset)."""

    cursors: CursorCodec
    scope: str  # the listing a cursor belongs to (and, for a user's own listing, whose)

    def start(self, cursor: str | None) -> str | None:
        """The position after which the page starts (None: the first page); a foreign or altered cursor is a 400."""
        return self.cursors.decode(self.scope, cursor) if cursor is not None else None

    def page(self, rows: Sequence[RowT], limit: int, position: Callable[[RowT], str]) -> KeysetPage[RowT]:
        """The page of `rows` (read with `limit + 1`) and the cursor of the next one."""
        more = len(rows) > limit
        return KeysetPage(
            list(rows[:limit]), self.cursors.encode(self.scope, position(rows[limit - 1])) if more else None
        )

    async def read(
        self,
        cursor: str | None,
        limit: int,
        fetch: Callable[[str | None, int], Awaitable[Sequence[RowT]]],
        position: Callable[[RowT], str],
    ) -> KeysetPage[RowT]:
        """`fetch(start, limit + 1)` from the cursor's position, as one page."""
        return self.page(await fetch(self.start(cursor), limit + 1), limit, position)


def invalid_cursor(detail: str) -> ProblemError:
    return ProblemError(400, detail, slug="invalid-cursor", title="Invalid Cursor")


def next_page_link(path: str, limit: int, cursor: str | None) -> str | None:
    """The `links.next` of a page: the same listing at `cursor`, or None on the last page."""
    return f"{path}?{urlencode({'limit': str(limit), 'cursor': cursor})}" if cursor is not None else None
