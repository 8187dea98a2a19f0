"""A nurse's observations of a session: recorded (checked, audited), listed in time order, and
shaped once for REST, the dashboard stream and the export."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Observation, TreatmentSession
from app.models.base import utcnow
from app.models.observation import (
    DISSOCIATION_LEVELS,
    MOAAS_MAX,
    MOAAS_MIN,
    NOTE_MAX,
    RESPIRATORY_STATES,
)
from app.services import audit
from app.services.alerts import user_names
from app.services.errors import Conflict, InvalidInput
from app.services.readings import iso
from app.services.sessions import get_session, time_in_session

FINDINGS = ("moaas", "dissociation", "respiratory")


def check_findings(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The findings and note of an observation, each checked; InvalidInput names the first
    field that is wrong, or says that nothing was observed."""
    unknown = sorted(set(fields) - {*FINDINGS, "note"})
    if unknown:
        raise InvalidInput(
            f"unknown field {unknown[0]!r}; an observation has {', '.join(FINDINGS)}, note"
        )
    moaas = fields.get("moaas")
    if moaas is not None and (
        isinstance(moaas, bool) or not isinstance(moaas, int) or not MOAAS_MIN <= moaas <= MOAAS_MAX
    ):
        raise InvalidInput(f"moaas must be a whole number {MOAAS_MIN}-{MOAAS_MAX}, not {moaas!r}")
    for name, allowed in (
        ("dissociation", DISSOCIATION_LEVELS),
        ("respiratory", RESPIRATORY_STATES),
    ):
        value = fields.get(name)
        if value is not None and value not in allowed:
            raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    note = fields.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX or "\x00" in note):
        raise InvalidInput(f"note must be text of at most {NOTE_MAX} characters")
    note = (note.strip() or None) if isinstance(note, str) else None
    found = {name: fields.get(name) for name in FINDINGS}
    if all(value is None for value in found.values()):
        raise InvalidInput(
            "nothing observed: give at least one of moaas, dissociation, respiratory"
        )
    return found | {"note": note}


async def record_observation(
    db: AsyncSession,
    session_id: int,
    fields: Mapping[str, Any],
    user: audit.Actor,
    at: datetime | None = None,
) -> Observation:
    """Store what the nurse observed at ``at`` (now when omitted) in an open session; audited
    in the same transaction. ``at`` may lie back to the session's start, never ahead of now."""
    findings = check_findings(fields)
    if user.user_id is None:
        raise InvalidInput("an observation is recorded by a logged-in user")
    session = await get_session(db, session_id)
    if session.ended_at is not None:
        raise Conflict(f"session {session.id} has ended; an observation needs an open session")
    now = utcnow()
    observed = time_in_session(session, at, now, "the observation time")
    observation = Observation(
        session_id=session.id,
        chair_id=session.chair_id,
        at=min(observed, now),
        user_id=user.user_id,
        recorded_at=now,
        **findings,
    )
    db.add(observation)
    await db.flush()
    detail = {"session_id": session.id, "at": iso(observation.at)} | findings
    audit.record(db, user, "observation.record", "observation", observation.id, detail, now)
    return observation


async def list_observations(db: AsyncSession, session_id: int) -> list[Observation]:
    """A session's observations in the order they were made (NotFound: no such session)."""
    await get_session(db, session_id)
    query = (
        select(Observation)
        .where(Observation.session_id == session_id)
        .order_by(Observation.at, Observation.id)
    )
    return list((await db.scalars(query)).all())


async def open_sessions_observations(db: AsyncSession) -> list[Observation]:
    """Every open session's observations, in time order (a screen's snapshot)."""
    query = (
        select(Observation)
        .join(TreatmentSession, TreatmentSession.id == Observation.session_id)
        .where(TreatmentSession.ended_at.is_(None))
        .order_by(Observation.at, Observation.id)
    )
    return list((await db.scalars(query)).all())


def observation_payload(observation: Observation, recorded_by: str | None) -> dict[str, Any]:
    """An observation as REST, the dashboard stream and the export give it."""
    return {
        "id": observation.id,
        "session_id": observation.session_id,
        "chair_id": observation.chair_id,
        "at": iso(observation.at),
        "moaas": observation.moaas,
        "dissociation": observation.dissociation,
        "respiratory": observation.respiratory,
        "note": observation.note,
        "recorded_by": recorded_by,
        "recorded_at": iso(observation.recorded_at),
    }


async def observation_payloads(
    db: AsyncSession, observations: Iterable[Observation]
) -> list[dict[str, Any]]:
    """Payloads of several observations, each with the name of who recorded it."""
    rows = list(observations)
    names = await user_names(db, {o.user_id for o in rows})
    return [observation_payload(o, names.get(o.user_id)) for o in rows]
