"""Alerts: list with filters, one alert's history, and acknowledgement (clinician or admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from app.api.deps import BigRowId, ClinicianUser, NurseUser, RowIdFilter, SessionDep, actor_of
from app.api.responses import errors
from app.models.schemas import TIME_HELP, AlertAck, AlertEventRead, AlertRead, ErrorRead, ZonedTime
from app.services import alerts

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=errors(401))


@router.get("", response_model=list[AlertRead], responses=errors(422))
async def list_alerts(
    user: NurseUser,
    db: SessionDep,
    active: bool | None = None,
    chair_id: RowIdFilter = None,
    session_id: RowIdFilter = None,
    start: Annotated[ZonedTime | None, Query(description=TIME_HELP)] = None,
    end: Annotated[ZonedTime | None, Query(description=TIME_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Alerts, unresolved and most severe first; filter by state, chair, session, time."""
    rows = await alerts.list_alerts(db, active, chair_id, session_id, start, end, limit)
    names = await alerts.user_names(db, {a.acknowledged_by for a in rows if a.acknowledged_by})
    return [alerts.alert_payload(a, names.get(a.acknowledged_by or -1)) for a in rows]


@router.get("/{alert_id}/history", response_model=list[AlertEventRead], responses=errors(404, 422))
async def alert_history(alert_id: BigRowId, user: NurseUser, db: SessionDep) -> list[Any]:
    """Every transition of one alert, oldest first."""
    await alerts.get_alert(db, alert_id)
    return await alerts.alert_history(db, alert_id)


@router.post(
    "/{alert_id}/ack",
    response_model=AlertRead,
    responses={
        **errors(400, 403, 404, 409, 422),
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": ErrorRead,
            "description": "with several workers: the one running the alert engine did not "
            "answer; try again",
        },
    },
)
async def acknowledge_alert(
    alert_id: BigRowId,
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
