"""Chairs and their live status (current session and latest vitals)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Chair, Device, Reading, TreatmentSession
from app.models.base import utcnow
from app.models.schemas import ChairStatus, LatestVitals, SessionRead, VitalValue
from app.services import audit
from app.services.errors import Conflict, InvalidInput
from app.wire import VITALS

# Latest vitals older than this are not looked up for the clinic view.
LATEST_WINDOW = timedelta(hours=24)


async def create_chair(db: AsyncSession, name: str, actor: audit.Actor) -> Chair:
    name = name.strip()
    if not name:
        raise InvalidInput("chair name must not be blank")
    if await db.scalar(select(Chair.id).where(Chair.name == name)) is not None:
        raise Conflict(f"a chair named {name!r} already exists")
    chair = Chair(name=name)
    db.add(chair)
    await db.flush()
    audit.record(db, actor, "chair.create", "chair", chair.id, {"name": name})
    return chair


async def get_or_create_chair(
    db: AsyncSession, name: str, actor: audit.Actor
) -> tuple[Chair, bool]:
    chair = await db.scalar(select(Chair).where(Chair.name == name.strip()))
    if chair is not None:
        return chair, False
    return await create_chair(db, name, actor), True


async def list_chairs(db: AsyncSession) -> list[Chair]:
    return list((await db.scalars(select(Chair).order_by(Chair.name))).all())


async def latest_vitals(db: AsyncSession, chair_ids: list[int]) -> dict[int, LatestVitals]:
    """Each chair's most recent value of each vital, with the time it was measured."""
    since = utcnow() - LATEST_WINDOW
    out: dict[int, LatestVitals] = {cid: LatestVitals() for cid in chair_ids}
    if not chair_ids:
        return out
    for vital in VITALS:
        column = getattr(Reading, vital)
        newest = (
            select(Reading.chair_id, func.max(Reading.measured_at).label("at"))
            .where(
                Reading.chair_id.in_(chair_ids), Reading.measured_at >= since, column.is_not(None)
            )
            .group_by(Reading.chair_id)
            .subquery()
        )
        rows = await db.execute(
            select(Reading.chair_id, column, Reading.measured_at).join(
                newest,
                and_(Reading.chair_id == newest.c.chair_id, Reading.measured_at == newest.c.at),
            )
        )
        for chair_id, value, measured_at in rows:
            if value is not None:
                setattr(out[chair_id], vital, VitalValue(value=value, measured_at=measured_at))
    return out


async def chair_statuses(db: AsyncSession) -> list[ChairStatus]:
    """Every chair with its open session, latest vitals and when its monitor was last heard."""
    chairs = await list_chairs(db)
    ids = [c.id for c in chairs]
    sessions = {
        s.chair_id: s
        for s in await db.scalars(
            select(TreatmentSession).where(TreatmentSession.ended_at.is_(None))
        )
    }
    seen = dict(
        (
            await db.execute(
                select(Device.chair_id, func.max(Device.last_seen_at))
                .where(Device.revoked_at.is_(None))
                .group_by(Device.chair_id)
            )
        ).all()
    )
    latest = await latest_vitals(db, ids)
    return [
        ChairStatus(
            id=c.id,
            name=c.name,
            session=SessionRead.model_validate(sessions[c.id]) if c.id in sessions else None,
            latest=latest[c.id],
            device_last_seen_at=seen.get(c.id),
        )
        for c in chairs
    ]
