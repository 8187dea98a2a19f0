"""Alerts: list with filters, one alert's history, and acknowledgement (clinician or admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import ClinicianUser, NurseUser, SessionDep, actor_of
from app.models.schemas import AlertAck, AlertEventRead, AlertRead
from app.services import alerts

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertRead])
async def list_alerts(
    user: NurseUser,
    db: SessionDep,
    active: bool | None = None,
    chair_id: int | None = None,
    session_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Alerts, unresolved and most severe first; filter by state, chair, session, time."""
    rows = await alerts.list_alerts(db, active, chair_id, session_id, start, end, min(limit, 5000))
    names = await alerts.user_names(db, {a.acknowledged_by for a in rows if a.acknowledged_by})
    return [alerts.alert_payload(a, names.get(a.acknowledged_by or -1)) for a in rows]


@router.get("/{alert_id}/history", response_model=list[AlertEventRead])
async def alert_history(alert_id: int, user: NurseUser, db: SessionDep) -> list[Any]:
    """Every transition of one alert, oldest first."""
    await alerts.get_alert(db, alert_id)
    return await alerts.alert_history(db, alert_id)


@router.post("/{alert_id}/ack", response_model=AlertRead)
async def acknowledge_alert(
    alert_id: int,
    request: Request,
    user: ClinicianUser,
    db: SessionDep,
    body: AlertAck | None = None,
) -> dict[str, Any]:
    """Acknowledge an alert under your name: silences it on every screen, does not hide it."""
    await alerts.get_alert(db, alert_id)
    await db.close()
    runner = request.app.state.alert_runner
    return await runner.acknowledge(alert_id, actor_of(user), body.note if body else None)  # type: ignore[no-any-return]
