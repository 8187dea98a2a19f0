"""A session's record for download and replay: CSV in the trace format, or JSON with the
session, its rule set, its readings (measured and arrived), every alert with its history,
every acknowledgement, what the engine was told about the monitor, the nurse's observations,
and the session's audit trail: enough for ``chairside replay --offline`` to run it again as it ran live."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, MonitorEvent, Observation, Reading
from app.models.base import utcnow
from app.models.schemas import SessionRead
from app.services import alerts, observations, sessions
from app.services.readings import iso
from app.trace import EXPORT_FORMAT, columns_for
from app.wire import VITALS


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


async def session_export(
    db: AsyncSession, session_id: int, rule_set: dict[str, str]
) -> dict[str, Any]:
    """Everything recorded for one session; times also as seconds from its start (``t_s``)."""
    exported_at = utcnow()
    session = await sessions.get_session(db, session_id)
    readings = await _all_readings(db, session_id)
    t0 = min([session.started_at, *(r.measured_at for r in readings[:1])])

    def seconds(at: datetime | None) -> float | None:
        return None if at is None else round((at - t0).total_seconds(), 3)

    rows = await alerts.list_alerts(db, session_id=session_id, limit=100_000)
    histories = {alert.id: await alerts.alert_history(db, alert.id) for alert in rows}
    names = await alerts.user_names(
        db,
        {a.acknowledged_by for a in rows if a.acknowledged_by}
        | {h.user_id for history in histories.values() for h in history if h.user_id},
    )
    alert_records = []
    acknowledgements: list[tuple[datetime, int, Any, str | None, str | None]] = []
    for alert in sorted(rows, key=lambda a: a.alert_no):
        record = alerts.alert_payload(alert, names.get(alert.acknowledged_by or -1))
        record.pop("event")
        record["history"] = []
        for h in histories[alert.id]:
            user = names.get(h.user_id) if h.user_id else None
            record["history"].append(
                {
                    "t_s": seconds(h.at),
                    "at": iso(h.at),
                    "event": h.event,
                    "priority": h.priority,
                    "value": _number(h.value),
                    "message": h.message,
                    "reason": h.reason,
                    "measured_t_s": seconds(h.measured_at),
                    "measured_at": _iso(h.measured_at),
                }
                | ({"user": user, "note": h.note} if h.event == "acknowledged" else {})
            )
            if h.event == "acknowledged":
                acknowledgements.append((h.at, h.id, alert, user, h.note))
        alert_records.append(record)
    return {
        "format": EXPORT_FORMAT,
        "session": SessionRead.model_validate(session).model_dump(mode="json"),
        "protocol": session.protocol,
        "t0": iso(t0),
        "dose_at_s": seconds(session.dose_at),
        "nibp_interval_s": session.nibp_interval_s,  # the cuff cycle; null: not set
        "rule_set": rule_set,
        "exported_at": iso(exported_at),
        "readings": [
            {"t_s": seconds(r.measured_at), "ts": iso(r.measured_at)}
            | {v: _number(getattr(r, v)) for v in VITALS if getattr(r, v) is not None}
            | {"id": r.id, "received_t_s": seconds(r.received_at)}
            | {"received_at": iso(r.received_at)}
            for r in readings
        ],
        "alerts": alert_records,
        "acknowledgements": [
            {"t_s": seconds(at), "at": iso(at), "alert_no": alert.alert_no, "alert_id": alert.id}
            | {"rule": alert.rule, "user": user, "note": note}
            for at, _, alert, user, note in sorted(acknowledgements, key=lambda a: a[:2])
        ],
        "monitor_events": [
            {"t_s": seconds(m.at), "at": iso(m.at), "event": m.event, "code": m.code}
            | {"last_reading_id": m.last_reading_id}
            for m in await _monitor_events(db, session_id)
        ],
        # The nurse's observations: ``t_s`` when observed, ``recorded_t_s`` when entered (the
        # engine heard of each then).
        "observations": [
            {"t_s": seconds(o.at), "recorded_t_s": seconds(o.recorded_at)} | payload
            for o, payload in await _observations(db, session_id)
        ],
        "session_log": [
            {"t_s": seconds(e.at), "at": iso(e.at), "action": e.action, "actor": e.actor}
            | {"detail": e.detail}
            for e in await _session_audit(db, session_id)
        ],
    }


async def _all_readings(db: AsyncSession, session_id: int) -> list[Reading]:
    query = (
        select(Reading)
        .where(Reading.session_id == session_id)
        .order_by(Reading.measured_at, Reading.id)
    )
    return list((await db.scalars(query)).all())


async def _monitor_events(db: AsyncSession, session_id: int) -> list[MonitorEvent]:
    query = select(MonitorEvent).where(MonitorEvent.session_id == session_id)
    return list((await db.scalars(query.order_by(MonitorEvent.id))).all())


async def _observations(
    db: AsyncSession, session_id: int
) -> list[tuple[Observation, dict[str, Any]]]:
    rows = await observations.list_observations(db, session_id)
    return list(zip(rows, await observations.observation_payloads(db, rows), strict=True))


async def _session_audit(db: AsyncSession, session_id: int) -> list[AuditEvent]:
    """The session's own audit trail: opened, dose marked, limits and cuff cycle set, ended."""
    query = select(AuditEvent).where(
        AuditEvent.target_type == "session", AuditEvent.target_id == session_id
    )
    return list((await db.scalars(query.order_by(AuditEvent.id))).all())


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def export_csv(record: dict[str, Any]) -> str:
    """The readings as a trace (``t_s,sbp,dbp,map,hr,spo2``, then ``rr``/``etco2`` when the
    session has them), replayable offline or live."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = columns_for(v for reading in record["readings"] for v in VITALS if v in reading)
    writer.writerow(columns)
    for reading in record["readings"]:
        writer.writerow([_cell(reading["t_s"])] + [_cell(reading.get(v)) for v in columns[1:]])
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
