"""The clinic view's REST side: chairs with live status, sessions and their readings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import orjson
from fastapi import APIRouter, Request, Response, status

from app.api.deps import ClinicianUser, NurseUser, SessionDep, actor_of
from app.models import Reading, TreatmentSession
from app.models.schemas import (
    ChairStatus,
    DoseMark,
    LimitsUpdate,
    NibpIntervalUpdate,
    ReadingRead,
    SessionCreate,
    SessionRead,
)
from app.services import chairs, export, sessions

router = APIRouter(prefix="/api", tags=["clinic"])


async def _announce(request: Request, session: SessionRead) -> None:
    await request.app.state.hub.publish(
        "sessions", {"type": "session", "session": session.model_dump(mode="json")}
    )


@router.get("/chairs", response_model=list[ChairStatus])
async def list_chairs(user: NurseUser, db: SessionDep) -> list[ChairStatus]:
    """Every chair with its open session and latest vitals."""
    return await chairs.chair_statuses(db)


@router.get("/sessions", response_model=list[SessionRead])
async def list_sessions(
    user: NurseUser,
    db: SessionDep,
    chair_id: int | None = None,
    open: bool = False,
    limit: int = 100,
) -> list[TreatmentSession]:
    """Sessions, newest first; filter by chair or open ones only."""
    return await sessions.list_sessions(db, chair_id, open, min(limit, 1000))


@router.post("/sessions", response_model=SessionRead, status_code=status.HTTP_201_CREATED)
async def create_session(
    body: SessionCreate, request: Request, user: NurseUser, db: SessionDep
) -> SessionRead:
    """Start a session on a chair."""
    session = await sessions.start_session(
        db,
        body.chair_id,
        body.protocol,
        body.patient_label,
        body.limit_overrides,
        actor_of(user),
        request.app.state.check_overrides,
        body.started_at,
        body.engine_clock,
        body.nibp_interval_s,
    )
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.get("/sessions/{session_id}", response_model=SessionRead)
async def get_session(session_id: int, user: NurseUser, db: SessionDep) -> TreatmentSession:
    """One session."""
    return await sessions.get_session(db, session_id)


@router.post("/sessions/{session_id}/dose", response_model=SessionRead)
async def mark_dose(
    session_id: int, request: Request, user: NurseUser, db: SessionDep, body: DoseMark | None = None
) -> SessionRead:
    """Mark the dose time (now, unless given)."""
    session = await sessions.mark_dose(db, session_id, body.at if body else None, actor_of(user))
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.put("/sessions/{session_id}/limits", response_model=SessionRead)
async def update_limits(
    session_id: int, body: LimitsUpdate, request: Request, user: ClinicianUser, db: SessionDep
) -> SessionRead:
    """Set this patient's limits (within the bounds an admin set)."""
    session = await sessions.update_limits(
        db, session_id, body.limit_overrides, actor_of(user), request.app.state.check_overrides
    )
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.put("/sessions/{session_id}/nibp-interval", response_model=SessionRead)
async def set_nibp_interval(
    session_id: int, body: NibpIntervalUpdate, request: Request, user: NurseUser, db: SessionDep
) -> SessionRead:
    """Set the session's NIBP cuff cycle in seconds (null: the protocol's default)."""
    session = await sessions.set_nibp_interval(db, session_id, body.nibp_interval_s, actor_of(user))
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.post("/sessions/{session_id}/end", response_model=SessionRead)
async def end_session(
    session_id: int, request: Request, user: NurseUser, db: SessionDep
) -> SessionRead:
    """End the session (discharge)."""
    session = await sessions.end_session(db, session_id, actor_of(user))
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.get("/sessions/{session_id}/export", response_model=None)
async def export_session(
    session_id: int,
    request: Request,
    user: NurseUser,
    db: SessionDep,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Download the session: JSON (session, rule set, readings, alerts with history) or CSV
    (the readings as a trace for `chairside replay`)."""
    record = await export.session_export(
        db,
        session_id,
        request.app.state.rule_set_label((await sessions.get_session(db, session_id)).protocol),
    )
    name = f"chairside-session-{session_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(export.export_csv(record), media_type="text/csv", headers=headers)
    return Response(orjson.dumps(record), media_type="application/json", headers=headers)


@router.get("/sessions/{session_id}/readings", response_model=list[ReadingRead])
async def session_readings(
    session_id: int,
    user: NurseUser,
    db: SessionDep,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = sessions.MAX_READINGS_PAGE,
) -> list[Reading]:
    """The session's readings in time order, optionally within [start, end)."""
    return await sessions.session_readings(db, session_id, start, end, limit)
