"""Alerts in the database: engine events applied to alert rows and their history; queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import AlertEvent as EngineEvent
from app.models import Alert, AlertEvent, User
from app.services.errors import NotFound, check_time_range

# What each engine event does to the alert's state.
NEXT_STATE = {
    "raised": "active",
    "escalated": None,
    "re-alarmed": "active",
    "acknowledged": "acknowledged",
    "superseded": "resolved",
    "cleared": "resolved",
}


def engine_time(t: float) -> datetime:
    """The live engine runs on epoch seconds."""
    return datetime.fromtimestamp(t, UTC)


async def apply_event(
    db: AsyncSession,
    session_id: int,
    chair_id: int,
    event: EngineEvent,
    user_id: int | None = None,
) -> Alert:
    """Record one engine event: create or update the alert row, append to its history."""
    at = engine_time(event.t)
    measured_at = None if event.measured_t is None else engine_time(event.measured_t)
    alert = await db.scalar(
        select(Alert).where(Alert.session_id == session_id, Alert.alert_no == event.alert_no)
    )
    if alert is None:
        alert = Alert(
            session_id=session_id,
            chair_id=chair_id,
            alert_no=event.alert_no,
            rule=event.rule,
            vital=event.vital,
            kind=event.kind,
            priority=event.priority,
            state="active",
            value=event.value,
            message=event.message,
            raised_at=at,
            measured_at=measured_at,
            updated_at=at,
        )
        db.add(alert)
        await db.flush()
    state = NEXT_STATE[event.event]
    if state is not None:
        alert.state = state
    alert.updated_at = at
    alert.priority = event.priority
    if event.event in ("raised", "re-alarmed", "escalated"):
        alert.value = event.value
    # The alert's message names the condition; escalation and re-alarm are states of the alarm
    # (escalated_at, state), and their own wording stays in the alert's history.
    if event.event == "escalated":
        alert.escalated_at = at
    if event.event == "re-alarmed":
        alert.escalated_at = None
    if event.event == "acknowledged":
        alert.acknowledged_at = at
        alert.acknowledged_by = user_id
        alert.ack_note = event.note
    if state == "resolved":
        alert.resolved_at = at
    db.add(
        AlertEvent(
            alert_id=alert.id,
            at=at,
            event=event.event,
            priority=event.priority,
            value=event.value,
            message=event.message,
            reason=event.reason,
            user_id=user_id,
            measured_at=measured_at,
            note=event.note,
        )
    )
    return alert


async def get_alert(db: AsyncSession, alert_id: int) -> Alert:
    alert = await db.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    return alert


async def list_alerts(
    db: AsyncSession,
    active: bool | None = None,
    chair_id: int | None = None,
    session_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[Alert]:
    """Alerts, most severe and newest first; ``active`` means not yet resolved."""
    check_time_range(start, end)
    query = select(Alert).order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(limit)
    if active is True:
        query = query.where(Alert.state != "resolved")
    elif active is False:
        query = query.where(Alert.state == "resolved")
    if chair_id is not None:
        query = query.where(Alert.chair_id == chair_id)
    if session_id is not None:
        query = query.where(Alert.session_id == session_id)
    if start is not None:
        query = query.where(Alert.raised_at >= start)
    if end is not None:
        query = query.where(Alert.raised_at < end)
    rows = list((await db.scalars(query)).all())
    rank = {"high": 0, "medium": 1, "low": 2}
    return sorted(rows, key=lambda a: (a.state == "resolved", rank.get(a.priority, 3)))


async def alert_history(db: AsyncSession, alert_id: int) -> list[AlertEvent]:
    query = select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    return list((await db.scalars(query)).all())


async def user_names(db: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {uid: name for uid, name in rows}


def alert_payload(alert: Alert, acked_by: str | None, event: str | None = None) -> dict[str, Any]:
    """The dashboard's form of an alert (the same fields as the REST AlertRead)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": alert.id,
        "alert_no": alert.alert_no,
        "session_id": alert.session_id,
        "chair_id": alert.chair_id,
        "rule": alert.rule,
        "vital": alert.vital,
        "kind": alert.kind,
        "priority": alert.priority,
        "state": alert.state,
        "value": alert.value,
        "message": alert.message,
        "raised_at": iso(alert.raised_at),
        "measured_at": iso(alert.measured_at),
        "escalated_at": iso(alert.escalated_at),
        "updated_at": iso(alert.updated_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": acked_by,
        "ack_note": alert.ack_note,
        "resolved_at": iso(alert.resolved_at),
        "event": event,
        "forward_status": alert.forward_status,
        "forward_status_at": iso(alert.forward_status_at),
    }
