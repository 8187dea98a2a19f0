"""Treatment sessions: start, mark the dose, set per-patient limits, end; their readings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Chair, Reading, TreatmentSession
from app.models.base import utcnow
from app.models.clinic import NIBP_INTERVAL_MAX_S, NIBP_INTERVAL_MIN_S, PROTOCOLS
from app.services import audit
from app.services.errors import Conflict, InvalidInput, NotFound, check_time_range

# Checks per-patient limit overrides for a protocol; raises InvalidInput naming the problem.
OverridesCheck = Callable[[str, dict[str, Any]], object]
# The rule set a session runs: its protocol's, with the patient's overrides.
RulesFor = Callable[[str, dict[str, Any]], Any]
# A client's clock a little ahead of the server's (a tablet's) is not a time in the future.
CLOCK_SKEW = timedelta(minutes=1)
# A session opened late may be dated back this far (e.g. the monitor ran before the nurse
# got to the screen, or a simulated clinic runs faster than real time).
MAX_BACKDATE = timedelta(hours=12)
MAX_READINGS_PAGE = 20_000


def _no_check(_protocol: str, _overrides: dict[str, Any]) -> None:
    return None


async def get_session(db: AsyncSession, session_id: int) -> TreatmentSession:
    session = await db.get(TreatmentSession, session_id)
    if session is None:
        raise NotFound(f"no session with id {session_id}")
    return session


async def open_session_for_chair(db: AsyncSession, chair_id: int) -> TreatmentSession | None:
    return await db.scalar(
        select(TreatmentSession).where(
            TreatmentSession.chair_id == chair_id, TreatmentSession.ended_at.is_(None)
        )
    )


async def start_session(
    db: AsyncSession,
    chair_id: int,
    protocol: str,
    patient_label: str,
    limit_overrides: dict[str, Any],
    actor: audit.Actor,
    check_overrides: OverridesCheck = _no_check,
    started_at: datetime | None = None,
    engine_clock: str = "wall",
    nibp_interval_s: int | None = None,
) -> TreatmentSession:
    """Open a session on a chair that has none open (dated back to ``started_at`` if given)."""
    now = utcnow()
    if started_at is not None and started_at > now + CLOCK_SKEW:
        raise InvalidInput("started_at is in the future")
    if started_at is not None and started_at < now - MAX_BACKDATE:
        raise InvalidInput(f"started_at is more than {MAX_BACKDATE} ago")
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    _check_nibp_interval(nibp_interval_s)
    if await db.get(Chair, chair_id) is None:
        raise NotFound(f"no chair with id {chair_id}")
    check_overrides(protocol, limit_overrides)
    existing = await open_session_for_chair(db, chair_id)
    if existing is not None:
        raise Conflict(
            f"chair {chair_id} already has an open session ({existing.id}); end it first"
        )
    session = TreatmentSession(
        chair_id=chair_id,
        protocol=protocol,
        patient_label=patient_label,
        limit_overrides=limit_overrides,
        started_by=actor.user_id,
        started_at=started_at or now,
        engine_clock=engine_clock,
        nibp_interval_s=nibp_interval_s,
    )
    db.add(session)
    try:
        await db.flush()
    except IntegrityError as exc:  # a concurrent start on the same chair won the race
        raise Conflict(f"chair {chair_id} already has an open session") from exc
    audit.record(
        db,
        actor,
        "session.start",
        "session",
        session.id,
        {"chair_id": chair_id, "protocol": protocol, "nibp_interval_s": nibp_interval_s},
    )
    return session


def _check_nibp_interval(interval_s: int | None) -> None:
    if interval_s is not None and not NIBP_INTERVAL_MIN_S <= interval_s <= NIBP_INTERVAL_MAX_S:
        raise InvalidInput(
            f"nibp_interval_s must be {NIBP_INTERVAL_MIN_S}-{NIBP_INTERVAL_MAX_S} seconds "
            f"(or null: not set), not {interval_s}"
        )


def time_in_session(
    session: TreatmentSession, at: datetime | None, now: datetime, what: str
) -> datetime:
    """``at`` (``now`` when None), checked to lie between the session's start and now, each
    give or take CLOCK_SKEW; ``what`` names it in the error."""
    when = at or now
    if when > now + CLOCK_SKEW:
        raise InvalidInput(f"{what} is in the future")
    if when < session.started_at - CLOCK_SKEW:
        raise InvalidInput(f"{what} is before the session started")
    return when


def _require_open(session: TreatmentSession) -> None:
    if session.ended_at is not None:
        raise Conflict(f"session {session.id} has ended")


async def mark_dose(
    db: AsyncSession, session_id: int, at: datetime | None, actor: audit.Actor
) -> TreatmentSession:
    """Record the dose time (now unless given); once per session."""
    session = await get_session(db, session_id)
    _require_open(session)
    if session.dose_at is not None:
        raise Conflict(f"dose already marked at {session.dose_at.isoformat()}")
    dose_at = time_in_session(session, at, utcnow(), "dose time")
    session.dose_at = dose_at
    audit.record(db, actor, "session.dose", "session", session.id, {"dose_at": dose_at.isoformat()})
    return session


async def update_limits(
    db: AsyncSession,
    session_id: int,
    overrides: dict[str, Any],
    actor: audit.Actor,
    check_overrides: OverridesCheck = _no_check,
) -> TreatmentSession:
    """Replace the session's per-patient limit overrides (validated against admin bounds)."""
    session = await get_session(db, session_id)
    _require_open(session)
    check_overrides(session.protocol, overrides)
    previous = session.limit_overrides
    session.limit_overrides = overrides
    audit.record(
        db, actor, "session.limits", "session", session.id, {"from": previous, "to": overrides}
    )
    return session


async def set_nibp_interval(
    db: AsyncSession, session_id: int, interval_s: int | None, actor: audit.Actor
) -> TreatmentSession:
    """Set the session's NIBP cuff cycle (None: not set, the protocol's default applies)."""
    _check_nibp_interval(interval_s)
    session = await get_session(db, session_id)
    _require_open(session)
    previous = session.nibp_interval_s
    session.nibp_interval_s = interval_s
    audit.record(
        db,
        actor,
        "session.nibp_interval",
        "session",
        session.id,
        {"from": previous, "to": interval_s},
    )
    return session


async def end_session(db: AsyncSession, session_id: int, actor: audit.Actor) -> TreatmentSession:
    session = await get_session(db, session_id)
    _require_open(session)
    session.ended_at = utcnow()
    audit.record(db, actor, "session.end", "session", session.id)
    return session


async def list_sessions(
    db: AsyncSession, chair_id: int | None = None, open_only: bool = False, limit: int = 100
) -> list[TreatmentSession]:
    query = select(TreatmentSession).order_by(TreatmentSession.started_at.desc()).limit(limit)
    if chair_id is not None:
        query = query.where(TreatmentSession.chair_id == chair_id)
    if open_only:
        query = query.where(TreatmentSession.ended_at.is_(None))
    return list((await db.scalars(query)).all())


async def session_readings(
    db: AsyncSession,
    session_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = MAX_READINGS_PAGE,
) -> list[Reading]:
    """A session's readings in measurement order, optionally within [start, end)."""
    await get_session(db, session_id)
    check_time_range(start, end)
    query = (
        select(Reading)
        .where(Reading.session_id == session_id)
        .order_by(Reading.measured_at, Reading.id)
        .limit(min(limit, MAX_READINGS_PAGE))
    )
    if start is not None:
        query = query.where(Reading.measured_at >= start)
    if end is not None:
        query = query.where(Reading.measured_at < end)
    return list((await db.scalars(query)).all())
