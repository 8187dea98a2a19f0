"""Alerts end to end: a device's rising BP raises an alert that is stored, reaches the screen,
is acknowledged by a clinician under their name, is audited, and survives a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import login
from tests.support import Clinic, Device, LiveServer, device_connect
from tests.test_dashboard_stream import dashboard_connect, next_of


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def start_session(nurse: httpx.AsyncClient, chair_id: int) -> int:
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "RB"}
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def wait_for_alert(client: httpx.AsyncClient, session_id: int, rule: str) -> dict:
    import asyncio

    for _ in range(100):
        alerts = (await client.get("/api/alerts", params={"session_id": session_id})).json()
        found = [a for a in alerts if a["rule"] == rule]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {rule} alert for session {session_id}")


async def test_rising_bp_alert_is_stored_shown_acknowledged_audited_and_survives_restart(
    clinic: Clinic,
) -> None:
    # A server of our own, so that it can be restarted mid-test.
    server = LiveServer(clinic.settings).start()
    own = Clinic(server=server, settings=clinic.settings)
    try:
        nurse = await login(own, "nurse")
        clinician = await login(own, "clinician")
        token, _, chair_id = await own.add_device("Chair 2")
        start = datetime.now(UTC) - timedelta(minutes=20)
        session_id = await start_session(nurse, chair_id)
        async with dashboard_connect(own, nurse) as screen:
            await next_of(screen, "snapshot")
            async with device_connect(server, token) as conn:
                device = Device(conn)
                # Pre-dose baseline, then the dose, then a BP at the critical limit.
                await device.reading(seq=1, ts=iso(start), sbp=128, dbp=80, map=96, hr=72, spo2=98)
                dosed = await nurse.post(f"/api/sessions/{session_id}/dose")
                assert dosed.status_code == 200
                now = datetime.now(UTC)
                reply = await device.reading(seq=2, ts=iso(now), sbp=186, dbp=104, map=131)
                assert reply["type"] == "ack"
                shown = await next_of(screen, "alert")
            assert shown["alert"]["rule"] == "sbp_critical"
            assert shown["alert"]["priority"] == "high"
            assert shown["alert"]["event"] == "raised"
            assert "186" in shown["alert"]["message"]

        stored = await wait_for_alert(nurse, session_id, "sbp_critical")
        assert stored["state"] == "active"

        # A nurse may not acknowledge; a clinician may, with a note.
        refused = await nurse.post(f"/api/alerts/{stored['id']}/ack", json={"note": "seen"})
        assert refused.status_code == 403
        acked = await clinician.post(
            f"/api/alerts/{stored['id']}/ack", json={"note": "recheck in 5 min"}
        )
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == "clinician"
        assert acked.json()["state"] == "acknowledged"
        twice = await clinician.post(f"/api/alerts/{stored['id']}/ack")
        assert twice.status_code == 409 and "already acknowledged" in twice.json()["detail"]

        audit = (await clinician.get("/api/audit", params={"target_type": "alert"})).json()
        assert [(e["actor"], e["action"], e["detail"]["note"]) for e in audit] == [
            ("clinician", "alert.acknowledge", "recheck in 5 min")
        ]
        history = (await clinician.get(f"/api/alerts/{stored['id']}/history")).json()
        assert [h["event"] for h in history] == ["raised", "acknowledged"]
        for client in (nurse, clinician):
            await client.aclose()

        # Restart: the alert is still there, acknowledged, and not raised a second time.
        server.stop()
        server = LiveServer(clinic.settings)
        server.port = own.server.port
        server.start()
        own = Clinic(server=server, settings=clinic.settings)
        nurse = await login(own, "nurse")
        alerts = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
        critical = [a for a in alerts if a["rule"] == "sbp_critical"]
        assert len(critical) == 1 and critical[0]["state"] == "acknowledged"
        async with dashboard_connect(own, nurse) as screen:
            snapshot = await next_of(screen, "snapshot")
        assert [a["rule"] for a in snapshot["alerts"] if a["rule"] == "sbp_critical"] == [
            "sbp_critical"
        ]
        await nurse.aclose()
    finally:
        server.stop()


async def test_per_patient_limits_are_checked_against_bounds_and_change_what_alarms(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    token, _, chair_id = await clinic.add_device("Chair L")
    session_id = await start_session(nurse, chair_id)
    url = f"/api/sessions/{session_id}/limits"
    unknown = await clinician.put(url, json={"limit_overrides": {"sbp_hgih": {"threshold": 170}}})
    assert unknown.status_code == 422 and "sbp_hgih" in unknown.json()["detail"]
    absurd = await clinician.put(url, json={"limit_overrides": {"sbp_high": {"threshold": 290}}})
    assert absurd.status_code == 422 and "sbp_high" in absurd.json()["detail"]
    assert (await nurse.get(f"/api/sessions/{session_id}")).json()["limit_overrides"] == {}
    # This patient runs high at baseline: the clinician raises the SBP limit to 170.
    ok = await clinician.put(url, json={"limit_overrides": {"sbp_high": {"threshold": 170}}})
    assert ok.status_code == 200
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        now = datetime.now(UTC)
        await device.reading(seq=1, ts=iso(now), sbp=165, dbp=88, map=114)
        await device.reading(seq=2, ts=iso(now + timedelta(seconds=1)), sbp=174, dbp=90, map=118)
    alert = await wait_for_alert(nurse, session_id, "sbp_high")
    # 165 no longer alarms; 174 does, and the message names the patient's limit.
    assert alert["value"] == 174 and "170" in alert["message"]
