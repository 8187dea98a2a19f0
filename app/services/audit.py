"""The audit trail: who did what, when, to what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.base import utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a logged-in user, or the command line (no user id)."""

    name: str
    user_id: int | None = None
    role: str = "admin"


CLI_ACTOR = Actor(name="cli")


def record(
    db: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (so it commits with the change)."""
    event = AuditEvent(
        at=at or utcnow(),
        user_id=actor.user_id,
        actor=actor.name,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
    )
    db.add(event)
    return event


async def list_events(
    db: AsyncSession,
    target_type: str | None = None,
    target_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if target_type is not None:
        query = query.where(AuditEvent.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    return list((await db.scalars(query)).all())
