"""A session's vitals as a FHIR R4 Bundle, for an EHR to import."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response

from app.api.deps import NurseUser, RowId, SessionDep
from app.api.responses import errors
from app.interop import fhir

router = APIRouter(prefix="/api/sessions", tags=["records"], responses=errors(401))


@router.get(
    "/{session_id}/fhir",
    response_class=Response,
    responses={
        200: {
            "description": "a FHIR R4 Bundle (type collection): the pseudonymous Patient, the "
            "session's Encounter at its chair, its monitors, one vital-signs Observation per "
            "stored measurement",
            "content": {fhir.MEDIA_TYPE: {"schema": {"type": "object"}}},
        },
        **errors(404, 422),
    },
)
async def session_fhir(session_id: RowId, user: NurseUser, db: SessionDep) -> Response:
    """The session as FHIR R4 (any role): the same session gives the same Bundle, so an EHR
    that imports it twice sees the same resources."""
    bundle = await fhir.session_bundle(db, session_id)
    name = f"chairside-session-{session_id}.fhir.json"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(orjson.dumps(bundle), media_type=fhir.MEDIA_TYPE, headers=headers)
