"""The facts of one session that its record prints, gathered through the services: who, where,
which protocol and rule set, the times, the three BP readings the REMS form asks for, every
observation and alert, the signed discharge, and the readings the trend is drawn from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import RuleSet
from app.models import Alert, Chair, Reading
from app.models.base import utcnow
from app.services import alerts, discharge, sessions
from app.services.observations import list_observations

# The BP "prior to administration": the last reading in the 30 minutes before the dose, the
# window the alert engine takes the pre-dose baseline from (CLINICAL.md).
PREDOSE_WINDOW = timedelta(minutes=30)
# The label and the REMS form: BP is reassessed about 40 minutes after the dose.
POSTDOSE_CHECK = timedelta(minutes=40)
# Respiratory vitals, when the session's monitor sent them (capnography).
RESPIRATORY_VITALS = ("rr", "etco2")


@dataclass(frozen=True, slots=True)
class Point:
    """One reading as the record uses it: its time and each vital it has."""

    at: datetime
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class ObservationLine:
    at: datetime
    moaas: int | None
    dissociation: str | None
    respiratory: str | None
    note: str | None
    by: str


@dataclass(frozen=True, slots=True)
class AlertLine:
    number: int
    rule: str
    kind: str
    priority: str
    message: str
    raised_at: datetime
    measured_at: datetime | None
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Limit:
    """A threshold line on the chart: a rule's limit on one vital."""

    vital: str
    value: float
    priority: str


@dataclass(frozen=True, slots=True)
class SessionFacts:
    clinic: str
    session_id: int
    chair: str
    patient_label: str
    protocol: str
    rule_set: str
    rule_set_version: str
    patient_limits: tuple[str, ...]
    started_at: datetime
    dose_at: datetime | None
    ended_at: datetime | None
    generated_at: datetime
    points: list[Point]
    bp_before: Point | None
    bp_40: Point | None
    bp_last: Point | None
    observations: list[ObservationLine]
    alerts: list[AlertLine]
    discharge: dict[str, Any] | None
    limits: list[Limit] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        """Where the record's time runs to: the end of the session, or now while it is open."""
        return self.ended_at or self.generated_at


async def gather(
    db: AsyncSession, session_id: int, rules: RuleSet, clinic: str | None
) -> SessionFacts:
    """Everything the record prints of one session (NotFound: no such session)."""
    session = await sessions.get_session(db, session_id)
    chair = await db.get(Chair, session.chair_id)
    points = [_point(r) for r in await _readings(db, session_id)]
    bp_points = [p for p in points if "sbp" in p.values]
    before, forty, last = _bp_checkpoints(bp_points, session.dose_at, session.ended_at)
    observations = await list_observations(db, session_id)
    alert_rows = await alerts.list_alerts(db, session_id=session_id, limit=100_000)
    signed = await discharge.signed(db, session_id)
    names = await alerts.user_names(
        db,
        {o.user_id for o in observations}
        | {a.acknowledged_by for a in alert_rows if a.acknowledged_by is not None},
    )
    return SessionFacts(
        clinic=clinic or "Chairside",
        session_id=session.id,
        chair=chair.name if chair is not None else f"chair {session.chair_id}",
        patient_label=session.patient_label,
        protocol=session.protocol,
        rule_set=rules.name,
        rule_set_version=rules.version,
        patient_limits=rules.overridden,
        started_at=session.started_at,
        dose_at=session.dose_at,
        ended_at=session.ended_at,
        generated_at=utcnow(),
        points=points,
        bp_before=before,
        bp_40=forty,
        bp_last=last,
        observations=[
            ObservationLine(
                o.at,
                o.moaas,
                o.dissociation,
                o.respiratory,
                o.note,
                names.get(o.user_id, f"user {o.user_id}"),
            )
            for o in observations
        ],
        alerts=[_alert_line(a, names) for a in sorted(alert_rows, key=lambda a: a.alert_no)],
        discharge=None if signed is None else await discharge.signed_payload(db, signed),
        limits=_limits(rules),
    )


async def _readings(db: AsyncSession, session_id: int) -> list[Reading]:
    query = (
        select(Reading)
        .where(Reading.session_id == session_id)
        .order_by(Reading.measured_at, Reading.id)
    )
    return list((await db.scalars(query)).all())


def _point(reading: Reading) -> Point:
    names = ("sbp", "dbp", "map", "hr", "spo2", *RESPIRATORY_VITALS)
    values = {name: getattr(reading, name, None) for name in names}
    return Point(reading.measured_at, {k: float(v) for k, v in values.items() if v is not None})


def _bp_checkpoints(
    bp_points: list[Point], dose_at: datetime | None, ended_at: datetime | None
) -> tuple[Point | None, Point | None, Point | None]:
    """The REMS form's three BP readings: the last in the 30 min before the dose, the one
    nearest 40 min after it, and the last before discharge (the session's last)."""
    until = [p for p in bp_points if ended_at is None or p.at <= ended_at]
    last = until[-1] if until else None
    if dose_at is None:
        return None, None, last
    before = [p for p in until if dose_at - PREDOSE_WINDOW <= p.at <= dose_at]
    after = [p for p in until if p.at > dose_at]
    target = dose_at + POSTDOSE_CHECK
    forty = min(after, key=lambda p: abs((p.at - target).total_seconds()), default=None)
    return (before[-1] if before else None), forty, last


def _alert_line(alert: Alert, names: dict[int, str]) -> AlertLine:
    by = None if alert.acknowledged_by is None else names.get(alert.acknowledged_by)
    return AlertLine(
        number=alert.alert_no,
        rule=alert.rule,
        kind=alert.kind,
        priority=alert.priority,
        message=alert.message,
        raised_at=alert.raised_at,
        measured_at=alert.measured_at,
        escalated_at=alert.escalated_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=by,
        note=alert.ack_note,
        resolved_at=alert.resolved_at,
    )


def _limits(rules: RuleSet) -> list[Limit]:
    """The session's fixed limits on each vital, for the chart's limit lines."""
    seen: set[tuple[str, float]] = set()
    out: list[Limit] = []
    for rule in rules:
        if rule.condition not in ("above", "below") or not rule.enabled:
            continue
        if rule.vital is None or rule.threshold is None:
            continue
        key = (rule.vital, float(rule.threshold))
        if key not in seen:
            seen.add(key)
            out.append(Limit(rule.vital, float(rule.threshold), rule.priority))
    return out
