"""The audit log of account events: what was done, by whom, to whom and from which address."""

from __future__ import annotations

from lexica.auth.repository import AuditRecord, AuditRepository
from lexica.platform.clock import utc_now
from lexica.platform.context import current_client_ip


class AuditLog:
    def __init__(self, events: AuditRepository) -> None:
        self._events = events

    async def record(
        self,
        action: str,
        *,
        actor_id: str | None = None,
        subject_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Record `action` now, from the current request's client address."""
        await self._events.record(
            action,
            actor_id=actor_id,
            subject_id=subject_id,
            client_ip=current_client_ip(),
            detail=detail,
            now=utc_now(),
        )

    async def events(self, *, before: int | None, limit: int) -> list[AuditRecord]:
        return await self._events.events(before=before, limit=limit)

    async def events_about(self, user_id: str) -> list[AuditRecord]:
        return await self._events.events_about(user_id)
