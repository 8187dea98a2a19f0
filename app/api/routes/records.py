"""A session's discharge checklist and its printable record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from app.api.deps import ROLE_RANK, ClinicianUser, NurseUser, RowId, SessionDep, actor_of
from app.api.responses import Responses, errors
from app.models.schemas import ErrorRead, SessionRead
from app.records.report import session_record, session_rules
from app.records.schemas import DischargeRead, DischargeSign
from app.services import discharge, sessions

router = APIRouter(prefix="/api/sessions", tags=["records"], responses=errors(401))

UNRENDERABLE: Responses = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorRead,
        "description": "the server cannot render PDF: WeasyPrint or the Pango library it needs "
        "is not installed (the answer names which)",
    }
}


@router.get("/{session_id}/discharge", response_model=DischargeRead, responses=errors(404, 422))
async def get_discharge(
    session_id: RowId, request: Request, user: NurseUser, db: SessionDep
) -> dict[str, Any]:
    """The discharge checklist: pre-filled from the session's data, or as it was signed."""
    rules = await session_rules(db, session_id, request.app.state.rules_for)
    may_sign = ROLE_RANK[user.role] >= ROLE_RANK["clinician"]
    return await discharge.discharge_view(db, session_id, rules, may_sign)


@router.post(
    "/{session_id}/discharge",
    response_model=DischargeRead,
    responses=errors(400, 403, 404, 409, 422),
)
async def sign_discharge(
    session_id: RowId,
    body: DischargeSign,
    request: Request,
    user: ClinicianUser,
    db: SessionDep,
) -> dict[str, Any]:
    """Sign the discharge and end the session (clinician or admin). Each item Chairside did not
    find met must be named in `confirm`."""
    rules = await session_rules(db, session_id, request.app.state.rules_for)
    await discharge.sign(db, session_id, rules, body.confirm, body.note, actor_of(user))
    await db.commit()
    session = SessionRead.model_validate(await sessions.get_session(db, session_id))
    # The alert engine ends the session as for any other end: it closes the open alerts.
    await request.app.state.hub.publish(
        "sessions", {"type": "session", "session": session.model_dump(mode="json")}
    )
    return await discharge.discharge_view(db, session_id, rules, may_sign=True)


@router.get(
    "/{session_id}/report.pdf",
    response_class=Response,
    responses={
        200: {
            "description": "the session's printable record (A4), open or ended",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(404, 422),
        **UNRENDERABLE,
    },
)
async def session_report(
    session_id: RowId, request: Request, user: NurseUser, db: SessionDep
) -> Response:
    """The session's record as PDF: times, BP before the dose, at about 40 min and before
    discharge, observations, alerts, the signed discharge and the trend."""
    settings = request.app.state.settings
    record = await session_record(
        db,
        session_id,
        request.app.state.rules_for,
        settings.clinic_name,
        settings.clock,
    )
    name = f"chairside-session-{session_id}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(record.pdf, media_type="application/pdf", headers=headers)
