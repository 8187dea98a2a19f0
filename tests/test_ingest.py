"""Device ingest over a real websocket: acks after commit, duplicates, errors, auth, batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
import websockets

from tests.support import Clinic, Device, device_connect


def ts(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat().replace("+00:00", "Z")


async def stored_seqs(clinic: Clinic, device_id: int) -> list[int]:
    rows = await clinic.query(
        "SELECT seq FROM reading WHERE device_id = :d ORDER BY seq", d=device_id
    )
    return [r.seq for r in rows]


async def test_acknowledged_reading_is_in_the_database(clinic: Clinic) -> None:
    token, device_id, chair_id = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        reply = await Device(conn).reading(
            seq=17, ts=ts(), sbp=132, dbp=84, map=100, hr=78, spo2=97
        )
        assert reply == {"type": "ack", "seq": 17}
        # The ack promised durability: the row is there before we do anything else.
        rows = await clinic.query(
            "SELECT chair_id, sbp, dbp, map, hr, spo2 FROM reading WHERE device_id = :d",
            d=device_id,
        )
    assert [tuple(r) for r in rows] == [(chair_id, 132, 84, 100, 78, 97)]


async def test_duplicate_seq_is_acked_and_stored_once(clinic: Clinic) -> None:
    token, device_id, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        assert await device.reading(seq=5, ts=ts(), hr=70) == {"type": "ack", "seq": 5}
        again = await device.reading(seq=5, ts=ts(), hr=70)
    assert again == {"type": "ack", "seq": 5, "duplicate": True}
    assert await stored_seqs(clinic, device_id) == [5]


async def test_resend_after_reconnect_is_a_duplicate(clinic: Clinic) -> None:
    token, device_id, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        await Device(conn).reading(seq=1, ts=ts(), spo2=98)
    async with device_connect(clinic.server, token) as conn:
        reply = await Device(conn).reading(seq=1, ts=ts(), spo2=98)
    assert reply["duplicate"] is True
    assert await stored_seqs(clinic, device_id) == [1]


BAD_FRAMES = [
    ("not json", "malformed_json"),
    ("[1, 2]", "not_an_object"),
    ('{"type": "vitals", "seq": 1}', "unknown_type"),
    ({"type": "reading", "seq": 1, "ts": "NOW", "hr": 70}, "invalid_ts"),
    ({"type": "reading", "seq": 1, "ts": "2026-11-24T10:00:00", "hr": 70}, "invalid_ts"),
    ({"type": "reading", "seq": 1, "ts": "TS", "hr": 70, "temp": 37}, "unknown_field"),
    ({"type": "reading", "ts": "TS", "hr": 70}, "missing_field"),
    ({"type": "reading", "seq": -3, "ts": "TS", "hr": 70}, "invalid_seq"),
    ({"type": "reading", "seq": 2**63, "ts": "TS", "hr": 70}, "invalid_seq"),
    ({"type": "reading", "seq": 2**64 - 1, "ts": "TS", "hr": 70}, "invalid_seq"),
    ({"type": "reading", "seq": 1.5, "ts": "TS", "hr": 70}, "invalid_seq"),
    ({"type": "reading", "seq": 1, "ts": "TS"}, "no_vitals"),
    ({"type": "reading", "seq": 1, "ts": "TS", "hr": "fast"}, "invalid_value"),
    ({"type": "reading", "seq": 1, "ts": "TS", "sbp": 320}, "out_of_range"),
    ({"type": "reading", "seq": 1, "ts": "TS", "spo2": 101}, "out_of_range"),
    ({"type": "reading", "seq": 1, "ts": "TS", "hr": "fast", "spo2": 101}, "invalid_value"),
    ({"type": "reading", "seq": 1, "ts": "TS", "sbp": 80, "dbp": 90}, "dbp_not_below_sbp"),
    (
        {"type": "reading", "seq": 1, "ts": "TS", "sbp": 130, "dbp": 80, "map": 140},
        "map_outside_bp",
    ),
    ({"type": "reading", "seq": 1, "ts": "FUTURE", "hr": 70}, "ts_in_future"),
    ({"type": "reading", "seq": 1, "ts": "OLD", "hr": 70}, "ts_too_old"),
    ({"type": "reading", "seq": 1, "ts": "2000-01-01T00:00:00Z", "hr": 70}, "ts_too_old"),
    ({"type": "reading", "seq": 1, "ts": "1900-01-01T00:00:00Z", "hr": 70}, "ts_too_old"),
    ({"type": "reading", "seq": 1, "ts": "0001-01-01T00:30:00+01:00", "hr": 70}, "ts_too_old"),
    ({"type": "batch", "readings": "many"}, "invalid_batch"),
    ("x" * (300 * 1024), "frame_too_large"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES, ids=[c for _, c in BAD_FRAMES])
async def test_each_bad_frame_gets_its_own_error_and_the_connection_survives(
    clinic: Clinic, frame: object, code: str
) -> None:
    token, device_id, _ = await clinic.add_device()
    if isinstance(frame, dict):
        frame = dict(frame)
        if frame.get("ts") == "TS":
            frame["ts"] = ts()
        elif frame.get("ts") == "FUTURE":
            frame["ts"] = ts(3600)
        elif frame.get("ts") == "OLD":
            frame["ts"] = ts(-15 * 86400)
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        await device.send(frame)  # type: ignore[arg-type]
        error = await device.recv()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["detail"]
        # The same connection still stores a good reading.
        assert await device.reading(seq=99, ts=ts(), hr=72) == {"type": "ack", "seq": 99}
    assert await stored_seqs(clinic, device_id) == [99]


async def test_the_largest_seq_and_a_reading_measured_days_ago_are_stored(clinic: Clinic) -> None:
    token, device_id, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        # A monitor back after a long weekend sends what it measured while its link was down.
        late = await device.reading(seq=2**63 - 1, ts=ts(-13 * 86400), hr=70)
        assert late == {"type": "ack", "seq": 2**63 - 1}
    assert await stored_seqs(clinic, device_id) == [2**63 - 1]


async def test_error_names_the_value_that_was_wrong(clinic: Clinic) -> None:
    token, _, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        reply = await Device(conn).reading(seq=4, ts=ts(), sbp=310)
    assert reply["seq"] == 4
    assert "sbp 310" in reply["detail"] and "30-300" in reply["detail"]


async def stored_vitals(clinic: Clinic, device_id: int) -> list[tuple]:
    rows = await clinic.query(
        "SELECT seq, sbp, dbp, map, hr, spo2 FROM reading WHERE device_id = :d ORDER BY seq",
        d=device_id,
    )
    return [tuple(r) for r in rows]


async def test_a_reading_keeps_its_valid_vitals_and_the_ack_names_each_dropped_one(
    clinic: Clinic,
) -> None:
    token, device_id, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        # A deep desaturation is a measurement; an HR of 400 and a text are not.
        reply = await device.reading(seq=7, ts=ts(), sbp=96, dbp=64, map=76, hr=400, spo2=41.9)
        assert reply == {
            "type": "ack",
            "seq": 7,
            "rejected": [
                {
                    "vital": "hr",
                    "code": "out_of_range",
                    "detail": "hr 400 is outside the plausible range 15-300 /min",
                }
            ],
        }
        again = await device.reading(seq=8, ts=ts(), hr=72, spo2="high")
        assert again["type"] == "ack"
        assert [(r["vital"], r["code"]) for r in again["rejected"]] == [("spo2", "invalid_value")]
    assert await stored_vitals(clinic, device_id) == [
        (7, 96, 64, 76, None, 41.9),
        (8, None, None, None, 72, None),
    ]


async def test_an_inconsistent_bp_drops_sbp_dbp_and_map_and_keeps_hr_and_spo2(
    clinic: Clinic,
) -> None:
    token, device_id, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        reply = await Device(conn).reading(
            seq=3, ts=ts(), sbp=120, dbp=130, map=125, hr=72, spo2=98
        )
    assert reply["type"] == "ack" and reply["seq"] == 3
    assert [(r["vital"], r["code"]) for r in reply["rejected"]] == [
        ("sbp", "dbp_not_below_sbp"),
        ("dbp", "dbp_not_below_sbp"),
        ("map", "dbp_not_below_sbp"),
    ]
    assert reply["rejected"][0]["detail"] == "diastolic 130 is not below systolic 120"
    assert await stored_vitals(clinic, device_id) == [(3, None, None, None, 72, 98)]


async def test_a_resent_partly_valid_reading_is_a_duplicate_naming_the_same_drops(
    clinic: Clinic,
) -> None:
    token, device_id, _ = await clinic.add_device()
    reading = {"seq": 9, "ts": ts(), "hr": 12, "spo2": 97}
    async with device_connect(clinic.server, token) as conn:
        first = await Device(conn).reading(**reading)
    async with device_connect(clinic.server, token) as conn:
        again = await Device(conn).reading(**reading)
    assert "duplicate" not in first and again["duplicate"] is True
    assert (
        first["rejected"]
        == again["rejected"]
        == [
            {
                "vital": "hr",
                "code": "out_of_range",
                "detail": "hr 12 is outside the plausible range 15-300 /min",
            }
        ]
    )
    assert await stored_vitals(clinic, device_id) == [(9, None, None, None, None, 97)]


async def test_readings_with_a_dropped_vital_count_toward_the_rejected_readings_alert(
    clinic: Clinic, nurse
) -> None:
    from tests.test_alerts_live import start_session, wait_for_alert

    token, _, chair_id = await clinic.add_device()
    session_id = await start_session(nurse, chair_id)
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        for seq in range(3):  # an oximeter fine, a cuff giving an impossible BP three times
            reply = await device.reading(
                seq=seq, ts=ts(), sbp=120, dbp=130, map=125, hr=72, spo2=98
            )
            assert reply["type"] == "ack" and len(reply["rejected"]) == 3
        alert = await wait_for_alert(nurse, session_id, "rejected_readings")
    assert alert["priority"] == "low"
    assert alert["message"] == "3 readings rejected in 1 min (last: dbp_not_below_sbp)"


@pytest.mark.parametrize("token", [None, "csd_not-a-real-token"])
async def test_bad_token_cannot_connect(clinic: Clinic, token: str | None) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with device_connect(clinic.server, token):
            pass
    assert refused.value.response.status_code in (401, 403)
    assert await clinic.query("SELECT id FROM reading") == []


async def test_revoked_device_is_disconnected_and_cannot_reconnect(clinic: Clinic, admin) -> None:
    token, device_id, _ = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        assert (await device.reading(seq=1, ts=ts(), hr=70))["type"] == "ack"
        response = await admin.post(f"/api/devices/{device_id}/revoke")
        assert response.status_code == 200
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(conn.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    with pytest.raises(websockets.InvalidStatus):
        async with device_connect(clinic.server, token):
            pass


async def test_batch_catch_up_acks_every_reading_and_rejects_only_the_bad_one(
    clinic: Clinic,
) -> None:
    token, device_id, _ = await clinic.add_device()
    readings = [{"seq": n, "ts": ts(-600 + n), "hr": 60 + n % 10, "spo2": 97} for n in range(200)]
    readings[50] = {"seq": 50, "ts": ts(-550), "hr": 400}
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        await device.send({"type": "batch", "readings": readings})
        replies = [await device.recv() for _ in range(200)]
    assert [r["seq"] for r in replies] == list(range(200))
    assert replies[50]["type"] == "error" and replies[50]["code"] == "out_of_range"
    assert all(r["type"] == "ack" for i, r in enumerate(replies) if i != 50)
    assert await stored_seqs(clinic, device_id) == [n for n in range(200) if n != 50]


async def test_reading_without_open_session_is_kept_against_the_chair(clinic: Clinic) -> None:
    token, device_id, chair_id = await clinic.add_device()
    async with device_connect(clinic.server, token) as conn:
        await Device(conn).reading(seq=1, ts=ts(), hr=70)
    rows = await clinic.query(
        "SELECT chair_id, session_id FROM reading WHERE device_id = :d", d=device_id
    )
    assert [tuple(r) for r in rows] == [(chair_id, None)]


async def test_reading_belongs_to_the_chairs_open_session(clinic: Clinic, nurse) -> None:
    token, _, chair_id = await clinic.add_device()
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    )
    assert created.status_code == 201, created.text
    async with device_connect(clinic.server, token) as conn:
        await Device(conn).reading(seq=1, ts=ts(), sbp=120, dbp=80)
    rows = await nurse.get(f"/api/sessions/{created.json()['id']}/readings")
    assert [(r["seq"], r["sbp"], r["dbp"]) for r in rows.json()] == [(1, 120, 80)]


async def test_many_devices_at_once_all_get_acks(clinic: Clinic) -> None:
    tokens = [await clinic.add_device(f"Chair {n}") for n in range(10)]

    async def stream(token: str) -> list[dict]:
        async with device_connect(clinic.server, token) as conn:
            device = Device(conn)
            for seq in range(20):
                await device.send({"type": "reading", "seq": seq, "ts": ts(), "hr": 70})
            return [await device.recv() for _ in range(20)]

    results = await asyncio.gather(*(stream(t) for t, _, _ in tokens))
    assert all(r == {"type": "ack", "seq": n} for replies in results for n, r in enumerate(replies))
    count = await clinic.query("SELECT count(*) AS n FROM reading")
    assert count[0].n == 200


async def test_device_last_seen_is_written_at_once_then_kept_current_and_at_shutdown(
    clinic: Clinic,
) -> None:
    from app.db import create_engine
    from app.models import Device as DeviceRow
    from tests.support import LiveServer

    server = LiveServer(clinic.settings).start()
    token, device_id, _ = await clinic.add_device("Chair 4")
    engine = create_engine(clinic.settings)

    async def last_seen() -> datetime | None:
        async with engine.connect() as conn:
            return await conn.scalar(
                sqlalchemy.select(DeviceRow.last_seen_at).where(DeviceRow.id == device_id)
            )

    try:
        async with device_connect(server, token) as conn:
            device = Device(conn)
            at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            assert (await device.reading(seq=1, ts=at, hr=70))["type"] == "ack"
            first = await last_seen()
            assert first is not None  # a device seen for the first time is written at once
            await asyncio.sleep(0.05)
            before_second = datetime.now(UTC)
            assert (await device.reading(seq=2, ts=at, hr=71))["type"] == "ack"
        server.stop()  # the newest sighting, not yet due, is written as the server stops
        final = await last_seen()
        assert final is not None and final >= before_second > first
    finally:
        server.stop()
        await engine.dispose()


async def test_a_simulated_monitor_takes_an_ack_with_drops_as_an_ack_and_counts_them(
    clinic: Clinic,
) -> None:
    from simulators.clock import SimClock
    from simulators.courses import SimReading
    from simulators.monitor import Monitor

    token, device_id, _ = await clinic.add_device()
    # Every third reading carries an HR no monitor measures; its SpO2 is still stored.
    readings = [SimReading(float(t), hr=400 if t % 3 == 0 else 70, spo2=97) for t in range(9)]
    monitor = Monitor(
        f"{clinic.server.ws_url}/ws/ingest", token, readings, SimClock(speed=1000, duration_s=9)
    )
    stats = await asyncio.wait_for(monitor.run(), 10)
    assert (stats.acked, stats.errors, stats.resent) == (9, 0, 0)
    assert stats.dropped == {"hr": 3}
    stored = await stored_vitals(clinic, device_id)
    assert [(hr, spo2) for _seq, _s, _d, _m, hr, spo2 in stored] == [
        (None if t % 3 == 0 else 70, 97) for t in range(9)
    ]
