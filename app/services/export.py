"""A session's record for download and replay: CSV in the trace format, or JSON with the
session, its rule set, its readings and every alert with its history."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Reading
from app.models.schemas import SessionRead
from app.services import alerts, sessions
from app.services.readings import iso
from app.trace import EXPORT_FORMAT
from app.wire import VITALS


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


async def session_export(
    db: AsyncSession, session_id: int, rule_set: dict[str, str]
) -> dict[str, Any]:
    """Everything recorded for one session; times also as seconds from its start (``t_s``)."""
    session = await sessions.get_session(db, session_id)
    readings = await _all_readings(db, session_id)
    t0 = min([session.started_at, *(r.measured_at for r in readings[:1])])

    def seconds(at: datetime | None) -> float | None:
        return None if at is None else round((at - t0).total_seconds(), 3)

    rows = await alerts.list_alerts(db, session_id=session_id, limit=100_000)
    names = await alerts.user_names(db, {a.acknowledged_by for a in rows if a.acknowledged_by})
    alert_records = []
    for alert in sorted(rows, key=lambda a: a.alert_no):
        record = alerts.alert_payload(alert, names.get(alert.acknowledged_by or -1))
        record.pop("event")
        history = await alerts.alert_history(db, alert.id)
        record["history"] = [
            {
                "t_s": seconds(h.at),
                "at": iso(h.at),
                "event": h.event,
                "priority": h.priority,
                "value": _number(h.value),
                "message": h.message,
                "reason": h.reason,
            }
            for h in history
        ]
        alert_records.append(record)
    return {
        "format": EXPORT_FORMAT,
        "session": SessionRead.model_validate(session).model_dump(mode="json"),
        "protocol": session.protocol,
        "t0": iso(t0),
        "dose_at_s": seconds(session.dose_at),
        "rule_set": rule_set,
        "readings": [
            {"t_s": seconds(r.measured_at), "ts": iso(r.measured_at)}
            | {v: _number(getattr(r, v)) for v in VITALS if getattr(r, v) is not None}
            for r in readings
        ],
        "alerts": alert_records,
    }


async def _all_readings(db: AsyncSession, session_id: int) -> list[Reading]:
    query = (
        select(Reading)
        .where(Reading.session_id == session_id)
        .order_by(Reading.measured_at, Reading.id)
    )
    return list((await db.scalars(query)).all())


def export_csv(record: dict[str, Any]) -> str:
    """The readings as a trace (``t_s,sbp,dbp,map,hr,spo2``), replayable offline or live."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["t_s", *VITALS])
    for reading in record["readings"]:
        writer.writerow([_cell(reading["t_s"])] + [_cell(reading.get(v)) for v in VITALS])
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
