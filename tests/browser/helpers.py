"""Ways for browser tests to act like a clinic: chairs with monitors, sessions, readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import TreatmentSession
from tests.support import Clinic, Device, device_connect


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC)


async def send_readings(clinic: Clinic, token: str, readings: list[dict[str, Any]]) -> None:
    """Send readings as the chair's monitor would, in batches; each must be acknowledged."""
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        for start in range(0, len(readings), 1000):
            chunk = readings[start : start + 1000]
            await device.send({"type": "batch", "readings": chunk})
            for item in chunk:
                reply = await device.recv(timeout=10)
                assert reply["type"] == "ack", (item, reply)


async def start_session(
    nurse: httpx.AsyncClient,
    chair_id: int,
    label: str,
    protocol: str = "spravato",
    dose_ago: timedelta | None = None,
    clinic: Clinic | None = None,
) -> dict[str, Any]:
    """Start a session; with dose_ago (needs clinic) it started an hour before that dose."""
    response = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": protocol, "patient_label": label}
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    if dose_ago is not None:
        assert clinic is not None
        await backdate_session(clinic, session["id"], dose_ago + timedelta(minutes=60))
        response = await nurse.post(
            f"/api/sessions/{session['id']}/dose", json={"at": iso(now() - dose_ago)}
        )
        assert response.status_code == 200, response.text
        session = response.json()
    return session


async def backdate_session(clinic: Clinic, session_id: int, ago: timedelta) -> None:
    """Test set-up only: pretend the session started `ago` (the API starts sessions now)."""

    async def work(db: AsyncSession) -> None:
        session = await db.get(TreatmentSession, session_id)
        assert session is not None
        session.started_at = now() - ago

    await clinic.db_work(work)


def course(
    minutes: float,
    *,
    until_ago_s: float = 0,
    bp_every_min: float = 5,
    sbp: float = 124,
    dbp: float = 80,
    hr: float = 74,
    spo2: float = 97,
    rise: float = 0,
    seq_start: int = 1,
) -> list[dict[str, Any]]:
    """A simple post-dose course: pulse oximetry every 5 s, NIBP every few minutes,
    BP rising by `rise` mmHg towards the end."""
    end = now() - timedelta(seconds=until_ago_s)
    start = end - timedelta(minutes=minutes)
    readings: list[dict[str, Any]] = []
    seq = seq_start
    total = int(minutes * 60)
    next_bp = 0.0
    for s in range(0, total + 1, 5):
        t = start + timedelta(seconds=s)
        frac = s / max(total, 1)
        reading: dict[str, Any] = {
            "type": "reading",
            "seq": seq,
            "ts": iso(t),
            "hr": round(hr + 8 * frac + (s % 17) / 6),
            "spo2": round(min(100, spo2 + (s % 11) / 10 - 0.5)),
        }
        if s >= next_bp:
            systolic = round(sbp + rise * frac)
            diastolic = round(dbp + rise * frac / 2)
            reading |= {
                "sbp": systolic,
                "dbp": diastolic,
                "map": round((systolic + 2 * diastolic) / 3),
            }
            next_bp += bp_every_min * 60
        readings.append(reading)
        seq += 1
    return readings


def alert_message(**fields: Any) -> str:
    """An `alert` stream message per the dashboard contract (for injection into a page)."""
    base: dict[str, Any] = {
        "id": 1,
        "alert_no": 1,
        "session_id": None,
        "chair_id": None,
        "rule": "sbp_critical",
        "vital": "sbp",
        "kind": "physiological",
        "priority": "high",
        "state": "active",
        "value": 184,
        "message": "SBP 184 ≥ 180 mmHg",
        "raised_at": iso(now() - timedelta(minutes=1)),
        "updated_at": iso(now() - timedelta(minutes=1)),
        "acknowledged_at": None,
        "acknowledged_by": None,
        "ack_note": None,
        "resolved_at": None,
        "event": "raised",
        "latched": False,
    }
    return json.dumps({"type": "alert", "alert": base | fields})


class StreamTap:
    """Relays a page's /ws/dashboard to the server and lets a test inject messages into it;
    ``rewrite`` (text -> text) changes each server message on its way to the page."""

    def __init__(self, rewrite: Any = None) -> None:
        self.routes: list[Any] = []
        self.rewrite = rewrite

    async def attach(self, page: Any) -> None:
        async def relay(ws: Any) -> None:
            server = ws.connect_to_server()  # without handlers, both directions pass through
            if self.rewrite is not None:
                server.on_message(lambda message: ws.send(self.rewrite(message)))
                ws.on_message(lambda message: server.send(message))
            self.routes.append(ws)

        await page.route_web_socket("**/ws/dashboard*", relay)

    def inject(self, message: str) -> None:
        self.routes[-1].send(message)


def breathing(
    minutes: float, *, rr: float, etco2: float, until_ago_s: float = 0, seq_start: int = 100_000
) -> list[dict[str, Any]]:
    """A capnograph's readings (RR and EtCO2 only) every 5 s for ``minutes`` up to now."""
    end = now() - timedelta(seconds=until_ago_s)
    start = end - timedelta(minutes=minutes)
    return [
        {
            "type": "reading",
            "seq": seq_start + n,
            "ts": iso(start + timedelta(seconds=s)),
            "rr": rr,
            "etco2": etco2,
        }
        for n, s in enumerate(range(0, int(minutes * 60) + 1, 5))
    ]


async def observe(client: httpx.AsyncClient, session_id: int, **findings: Any) -> dict[str, Any]:
    """Record a nurse's observation through the REST API (as the dialog does)."""
    response = await client.post(f"/api/sessions/{session_id}/observations", json=findings)
    assert response.status_code == 201, response.text
    observation: dict[str, Any] = response.json()
    return observation
