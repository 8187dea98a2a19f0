"""RR and EtCO2 on the live path, on SQLite and PostgreSQL: through ``/ws/ingest`` (an invalid
one dropped alone and named in the ack), stored, on the dashboard stream, in REST readings and
the chairs' latest values, in the export (JSON and CSV); and a respiratory-depression course
replayed to the server raises its alerts live, exactly as ``chairside replay --offline`` of the
session's export raises them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx

from simulators.clinic import plan_chair
from simulators.replay import MAX_SPEED, replay_live
from tests.support import PASSWORD, Clinic, Device, device_connect, run_chairside
from tests.test_dashboard_stream import dashboard_connect, next_of
from tests.test_replay import live_events


def ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def test_rr_and_etco2_go_everywhere_a_vital_goes_and_a_bad_one_is_dropped_alone(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    token, device_id, chair_id = await clinic.add_device("Chair 5")
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "RR"}
    )
    session_id = created.json()["id"]
    async with dashboard_connect(clinic, nurse) as screen:
        await next_of(screen, "snapshot")
        async with device_connect(clinic.server, token) as conn:
            device = Device(conn)
            ok = await device.reading(seq=1, ts=ts(), hr=72, spo2=97, rr=14, etco2=38)
            assert ok == {"type": "ack", "seq": 1}
            streamed = (await next_of(screen, "readings"))["readings"]
            # A capnograph's apnoea reads 0 and 0: measurements, kept.
            flat = await device.reading(seq=2, ts=ts(), rr=0, etco2=0)
            assert flat == {"type": "ack", "seq": 2}
            bad = await device.reading(seq=3, ts=ts(), hr=70, spo2=96, rr=151, etco2="high")
            assert bad["type"] == "ack"
            assert bad["rejected"] == [
                {
                    "vital": "etco2",
                    "code": "invalid_value",
                    "detail": "etco2 must be a number, got 'high'",
                },
                {
                    "vital": "rr",
                    "code": "out_of_range",
                    "detail": "rr 151 is outside the plausible range 0-150 /min",
                },
            ]
            # Nothing valid left: the reading is refused, naming why.
            refused = await device.reading(seq=4, ts=ts(), etco2=-2)
            assert (refused["type"], refused["seq"], refused["code"]) == (
                "error",
                4,
                "out_of_range",
            )
            assert refused["detail"] == "etco2 -2 is outside the plausible range 0-150 mmHg"
    [live] = [r for r in streamed if r["seq"] == 1]
    assert (live["rr"], live["etco2"], live["hr"]) == (14, 38, 72)

    stored = await clinic.query(
        "SELECT seq, hr, rr, etco2 FROM reading WHERE device_id = :d ORDER BY seq", d=device_id
    )
    assert [tuple(row) for row in stored] == [(1, 72, 14, 38), (2, None, 0, 0), (3, 70, None, None)]
    rest = (await nurse.get(f"/api/sessions/{session_id}/readings")).json()
    assert [(r["seq"], r["rr"], r["etco2"]) for r in rest] == [
        (1, 14, 38),
        (2, 0, 0),
        (3, None, None),
    ]
    (chair,) = [c for c in (await nurse.get("/api/chairs")).json() if c["id"] == chair_id]
    assert (chair["latest"]["rr"]["value"], chair["latest"]["etco2"]["value"]) == (0, 0)

    exported = (await nurse.get(f"/api/sessions/{session_id}/export")).json()
    assert [(r.get("rr"), r.get("etco2")) for r in exported["readings"]] == [
        (14, 38),
        (0, 0),
        (None, None),
    ]
    as_csv = (await nurse.get(f"/api/sessions/{session_id}/export", params={"format": "csv"})).text
    rows = list(csv.reader(io.StringIO(as_csv)))
    assert rows[0] == ["t_s", "sbp", "dbp", "map", "hr", "spo2", "rr", "etco2"]
    assert [row[-2:] for row in rows[1:]] == [["14", "38"], ["0", "0"], ["", ""]]


async def test_a_session_without_a_capnograph_exports_the_trace_it_always_did(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    token, _, chair_id = await clinic.add_device("Chair 6")
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "NC"}
    )
    async with device_connect(clinic.server, token) as conn:
        assert (await Device(conn).reading(seq=1, ts=ts(), hr=72, spo2=97))["type"] == "ack"
    url = f"/api/sessions/{created.json()['id']}/export"
    as_csv = (await nurse.get(url, params={"format": "csv"})).text
    assert as_csv.splitlines()[0] == "t_s,sbp,dbp,map,hr,spo2"
    reading = (await nurse.get(url)).json()["readings"][0]
    assert "rr" not in reading and "etco2" not in reading


async def stored_events(clinic: Clinic, session_id: int, base: datetime, expected: int) -> list:
    """(seconds from ``base``, event, rule, priority) of the session's stored alert history,
    once the live engine has written as many as ``expected``."""
    return [event[:4] for event in await live_events(clinic, session_id, base, expected)]


async def test_a_respiratory_depression_course_alarms_live_as_its_export_replays_offline(
    clinic: Clinic, nurse: httpx.AsyncClient, tmp_path: Path
) -> None:
    plan = plan_chair(1, 2, "respiratory-depression", 150 * 60.0, "spravato")
    # Up to 36 min after the dose: the breathing has slowed and CO2 has built up, then SpO2 fell.
    readings = [r for r in plan.readings if r.t_s <= plan.dose_at_s + 36 * 60]
    report = await replay_live(
        clinic.server.url,
        "admin",
        PASSWORD,
        readings,
        "spravato",
        plan.dose_at_s,
        MAX_SPEED,
        chair="Chair R",
        keep_open=True,
        progress=False,
    )
    assert report.stats.acked == len(readings) and report.stats.errors == 0
    exported = await nurse.get(f"/api/sessions/{report.session_id}/export")
    path = tmp_path / "export.json"
    path.write_bytes(exported.content)
    env = {**os.environ, "CHAIRSIDE_DATABASE_URL": clinic.settings.database_url}
    done = await asyncio.to_thread(run_chairside, env, "replay", str(path), "--offline", "--json")
    assert done.returncode == 0, done.stderr
    offline = [json.loads(line) for line in done.stdout.splitlines()]
    expected = [(e["t_s"], e["event"], e["rule"], e["priority"]) for e in offline]
    live = await stored_events(clinic, report.session_id, report.base, len(expected))
    assert live == expected
    raised = {rule: priority for _, event, rule, priority in live if event == "raised"}
    assert raised["rr_low"] == raised["etco2_high"] == raised["spo2_low"] == "medium"
    order = [rule for _, event, rule, _ in live if event == "raised"]
    assert order.index("rr_low") < order.index("spo2_low")
    assert order.index("etco2_high") < order.index("spo2_low")
    shown = (await nurse.get("/api/alerts", params={"session_id": report.session_id})).json()
    (rr_alert,) = [a for a in shown if a["rule"] == "rr_low"]
    assert rr_alert["vital"] == "rr" and "RR" in rr_alert["message"]
    assert rr_alert["message"].endswith("≤ 8/min for 30 s")
    await nurse.post(f"/api/sessions/{report.session_id}/end")
