"""The clinic view's REST side: chairs with live status, sessions and their readings."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response, status

from app.api.deps import (
    ClinicianUser,
    NurseUser,
    RowId,
    RowIdFilter,
    SessionDep,
    actor_of,
)
from app.api.responses import errors
from app.models import Reading, TreatmentSession
from app.models.schemas import (
    TIME_HELP,
    ChairStatus,
    DoseMark,
    LimitsUpdate,
    NibpIntervalUpdate,
    ReadingRead,
    SessionCreate,
    SessionRead,
    ZonedTime,
)
from app.services import chairs, export, sessions

router = APIRouter(prefix="/api", tags=["clinic"], responses=errors(401))

# Changing a session: its id in the path, a body, and the states that refuse a change.
SESSION_CHANGE = errors(400, 403, 404, 409, 422)


async def _announce(request: Request, session: SessionRead) -> None:
    await request.app.state.hub.publish(
        "sessions", {"type": "session", "session": session.model_dump(mode="json")}
    )


@router.get("/chairs", response_model=list[ChairStatus])
async def list_chairs(user: NurseUser, db: SessionDep) -> list[ChairStatus]:
    """Every chair with its open session and latest vitals."""
    return await chairs.chair_statuses(db)


@router.get("/sessions", response_model=list[SessionRead], responses=errors(422))
async def list_sessions(
    user: NurseUser,
    db: SessionDep,
    chair_id: RowIdFilter = None,
    open: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TreatmentSession]:
    """Sessions, newest first; filter by chair or open ones only."""
    return await sessions.list_sessions(db, chair_id, open, limit)


@router.post(
    "/sessions",
    response_model=SessionRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 403, 404, 409, 422),
)
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


@router.get("/sessions/{session_id}", response_model=SessionRead, responses=errors(404, 422))
async def get_session(session_id: RowId, user: NurseUser, db: SessionDep) -> TreatmentSession:
    """One session."""
    return await sessions.get_session(db, session_id)


@router.post("/sessions/{session_id}/dose", response_model=SessionRead, responses=SESSION_CHANGE)
async def mark_dose(
    session_id: RowId,
    request: Request,
    user: NurseUser,
    db: SessionDep,
    body: DoseMark | None = None,
) -> SessionRead:
    """Mark the dose time (now, unless given)."""
    session = await sessions.mark_dose(db, session_id, body.at if body else None, actor_of(user))
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.put("/sessions/{session_id}/limits", response_model=SessionRead, responses=SESSION_CHANGE)
async def update_limits(
    session_id: RowId, body: LimitsUpdate, request: Request, user: ClinicianUser, db: SessionDep
) -> SessionRead:
    """Set this patient's limits (within the bounds an admin set)."""
    session = await sessions.update_limits(
        db, session_id, body.limit_overrides, actor_of(user), request.app.state.check_overrides
    )
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.put(
    "/sessions/{session_id}/nibp-interval", response_model=SessionRead, responses=SESSION_CHANGE
)
async def set_nibp_interval(
    session_id: RowId, body: NibpIntervalUpdate, request: Request, user: NurseUser, db: SessionDep
) -> SessionRead:
    """Set the session's NIBP cuff cycle in seconds (null: the protocol's default)."""
    session = await sessions.set_nibp_interval(db, session_id, body.nibp_interval_s, actor_of(user))
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.post(
    "/sessions/{session_id}/end", response_model=SessionRead, responses=errors(403, 404, 409, 422)
)
async def end_session(
    session_id: RowId, request: Request, user: NurseUser, db: SessionDep
) -> SessionRead:
    """End the session (discharge)."""
    session = await sessions.end_session(db, session_id, actor_of(user))
    await db.commit()
    read = SessionRead.model_validate(session)
    await _announce(request, read)
    return read


@router.get(
    "/sessions/{session_id}/export",
    response_model=None,
    responses={
        200: {
            "description": "the session's record (JSON) or its readings as a trace (CSV)",
            "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
        },
        **errors(404, 422),
    },
)
async def export_session(
    session_id: RowId,
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


@router.get(
    "/sessions/{session_id}/readings",
    response_model=list[ReadingRead],
    responses=errors(404, 422),
)
async def session_readings(
    session_id: RowId,
    user: NurseUser,
    db: SessionDep,
    start: Annotated[ZonedTime | None, Query(description=TIME_HELP)] = None,
    end: Annotated[ZonedTime | None, Query(description=TIME_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=sessions.MAX_READINGS_PAGE)] = sessions.MAX_READINGS_PAGE,
) -> list[Reading]:
    """The session's readings in time order, optionally within [start, end)."""
    return await sessions.session_readings(db, session_id, start, end, limit)
