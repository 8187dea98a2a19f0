"""A nurse's observations of a session: sedation, dissociation, respiratory status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, BeforeValidator, Field

from app.api.deps import NurseUser, RowId, SessionDep, actor_of
from app.api.responses import errors
from app.models.observation import MOAAS_MAX, MOAAS_MIN, MOAAS_WORDS, NOTE_MAX
from app.models.schemas import TIME_HELP, Strict, ZonedTime
from app.services import observations

router = APIRouter(prefix="/api", tags=["observations"], responses=errors(401))

MOAAS_HELP = "MOAA/S: " + "; ".join(f"{level} {words}" for level, words in MOAAS_WORDS.items())


def _a_number(value: object) -> object:
    """A JSON number (2 or 2.0, as JSON Schema's integer has it), never "2" or true."""
    if isinstance(value, bool | str):
        raise ValueError("must be a whole number, not text or true/false")
    return value


Moaas = Annotated[int, Field(ge=MOAAS_MIN, le=MOAAS_MAX), BeforeValidator(_a_number)]
# The same levels as the service checks (app/models/observation.py).
Dissociation = Literal["none", "mild", "moderate", "severe"]
Respiratory = Literal["normal", "depressed"]


class ObservationCreate(Strict):
    """At least one of moaas, dissociation, respiratory (the service refuses none)."""

    moaas: Moaas | None = Field(default=None, description=MOAAS_HELP)
    dissociation: Dissociation | None = None
    respiratory: Respiratory | None = None
    # Line breaks are fine in a note; NUL is not (PostgreSQL cannot store it).
    note: str | None = Field(default=None, max_length=NOTE_MAX, pattern=r"^[^\x00]*$")
    at: ZonedTime | None = Field(
        default=None,
        description="when the patient was observed, if not now; not before the session "
        f"started, not in the future; {TIME_HELP}",
    )


class ObservationRead(BaseModel):
    id: int
    session_id: int
    chair_id: int
    at: datetime = Field(description="when the patient was observed")
    moaas: int | None = Field(description=MOAAS_HELP)
    dissociation: Dissociation | None
    respiratory: Respiratory | None
    note: str | None
    recorded_by: str | None = Field(description="the name of the user who recorded it")
    recorded_at: datetime = Field(description="when it was entered")


@router.post(
    "/sessions/{session_id}/observations",
    response_model=ObservationRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 403, 404, 409, 422),
)
async def create_observation(
    session_id: RowId, body: ObservationCreate, request: Request, user: NurseUser, db: SessionDep
) -> dict[str, Any]:
    """Record what you observed: sedation (MOAA/S), dissociation, respiratory status."""
    fields = body.model_dump(include={"moaas", "dissociation", "respiratory", "note"})
    row = await observations.record_observation(db, session_id, fields, actor_of(user), body.at)
    payload = observations.observation_payload(row, user.name)
    await db.commit()
    # The screens and the alert engine hear of it once it is stored.
    await request.app.state.hub.publish(
        "observations", {"type": "observation", "observation": payload}
    )
    return payload


@router.get(
    "/sessions/{session_id}/observations",
    response_model=list[ObservationRead],
    responses=errors(404, 422),
)
async def list_observations(
    session_id: RowId, user: NurseUser, db: SessionDep
) -> list[dict[str, Any]]:
    """The session's observations in the order they were made."""
    rows = await observations.list_observations(db, session_id)
    return await observations.observation_payloads(db, rows)
