"""Late readings: an alert keeps both the engine's time and the measurement time of the
reading behind it, and a live session's export replays offline as it ran live (arrival
order, arrival clock, the monitor's link, acknowledgements), re-alarms included."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.alerts import Reading, SessionSetup, Tick, default_rules, new_state, step
from app.export_replay import replay_export
from tests.conftest import login
from tests.support import Clinic, Device, LiveServer, device_connect
from tests.test_dashboard_stream import dashboard_connect, next_of

# Short timings, so that the escalation, the re-alarm and the lost link come within seconds.
RULES = {
    "protocol": "spravato",
    "rules": [
        {"id": "sbp_high", "escalate_after_s": 2, "realarm_after_s": 3},
        {"id": "monitor_disconnected", "threshold": 2},
    ],
}
# The live ticker ticks once a second at instants nobody records; the offline replay ticks on
# the whole seconds from the export's t0. An event a tick causes (escalation, re-alarm, lost
# link), or a late reading's event (stamped with the engine's clock, the last tick), is
# therefore up to one tick from its live time; the rest of the allowance is for a live tick
# delayed by a busy event loop. Acknowledgements and measurement times are exact.
TICK_TOLERANCE_S = 1.5


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def parse(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def test_events_a_reading_causes_carry_its_measurement_time_and_the_clocks() -> None:
    state = new_state(SessionSetup("spravato", 1000.0, None, default_rules("spravato")))
    state, (no_data,) = step(state, Tick(1400.0))
    assert no_data.rule == "no_data" and no_data.measured_t is None
    # Measured at 1040, arrived at 1400 (a catch-up batch): raised on the engine's clock.
    state, events = step(state, Reading(1040.0, sbp=163, dbp=92, map=116))
    by_rule = {e.rule: e for e in events}
    assert (by_rule["no_data"].event, by_rule["no_data"].measured_t) == ("cleared", 1040.0)
    raised = by_rule["sbp_high"]
    assert (raised.event, raised.t, raised.measured_t) == ("raised", 1400.0, 1040.0)
    assert raised.to_json_dict()["measured_t_s"] == 1040.0
    assert list(raised.to_json_dict())[:9] == [
        "t_s", "event", "rule", "vital", "value", "priority", "kind", "message", "measured_t_s",
    ]  # fmt: skip
    # What the clock causes is caused by no reading.
    _, events = step(state, Tick(1520.0))
    (escalated,) = [e for e in events if e.rule == "sbp_high"]
    assert escalated.event == "escalated" and escalated.measured_t is None
    assert escalated.to_json_dict()["measured_t_s"] is None


def test_an_open_sessions_export_replays_on_the_arrival_clock_until_it_was_exported() -> None:
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def at(seconds: float) -> str:
        return iso(t0 + timedelta(seconds=seconds))

    record = {
        "session": {
            "id": 1, "chair_id": 1, "protocol": "spravato", "engine_clock": "wall",
            "started_at": at(0), "dose_at": None, "ended_at": None, "limit_overrides": {},
        },
        "t0": at(0),
        "exported_at": at(500),
        # Measured at 20 s and 40 s, sent in a batch that arrived at 300.5 s (after no data).
        "readings": [
            {"id": 7, "ts": at(20), "received_at": at(300.5), "sbp": 165, "dbp": 90, "map": 115},
            {"id": 8, "ts": at(40), "received_at": at(300.5), "sbp": 166, "dbp": 90, "map": 115},
        ],
        "acknowledgements": [
            {"at": at(450), "alert_no": 9, "user": "dr.b", "note": None},
        ],
        "monitor_events": [],
        "session_log": [{"at": at(0), "action": "session.start", "detail": {}}],
    }  # fmt: skip
    notes: list[str] = []
    events = list(replay_export(record, on_note=notes.append))
    assert [(e["t_s"], e["event"], e["rule"], e["measured_t_s"]) for e in events] == [
        (30.0, "raised", "no_data", None),
        (150.0, "escalated", "no_data", None),
        # On the engine's clock: the last tick before the batch arrived.
        (300.0, "cleared", "no_data", 20.0),
        (300.0, "raised", "sbp_high", 20.0),
        (330.0, "raised", "no_data", None),
        # Two minutes after it was raised on arrival, not after it was measured.
        (420.0, "escalated", "sbp_high", None),
        (450.0, "escalated", "no_data", None),
    ]
    assert notes == ["acknowledgement of alert 9 not applied: no alert 9 in this session"]


async def test_a_late_reading_shows_when_it_was_measured_on_the_stream_and_in_rest(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    token, _, chair_id = await clinic.add_device("Chair 6")
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "LT"}
    )
    session_id = created.json()["id"]
    measured = datetime.now(UTC) - timedelta(minutes=6)
    async with dashboard_connect(clinic, nurse) as screen:
        await next_of(screen, "snapshot")
        async with device_connect(clinic.server, token) as conn:
            reply = await Device(conn).reading(seq=1, ts=iso(measured), sbp=163, dbp=92, map=116)
            assert reply["type"] == "ack"
        shown = (await next_of(screen, "alert"))["alert"]
    assert shown["rule"] == "sbp_high" and parse(shown["measured_at"]) == measured
    # Raised when it arrived: six minutes after it was measured.
    assert parse(shown["raised_at"]) - measured > timedelta(minutes=5)
    (stored,) = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
    assert parse(stored["measured_at"]) == measured
    (history,) = (await nurse.get(f"/api/alerts/{stored['id']}/history")).json()
    assert history["event"] == "raised" and parse(history["measured_at"]) == measured


OXIMETRY = {"hr": 80, "spo2": 97}


class Monitor:
    """The chair's monitor: pulse oximetry twice a second, and whatever else it is told to send;
    what it measures while its link is down it sends as a catch-up batch on reconnecting."""

    def __init__(self) -> None:
        self.seq = 0
        self.device: Device | None = None
        self.buffered: list[dict[str, Any]] = []

    def measure(self, at: datetime | None = None, **vitals: Any) -> dict[str, Any]:
        self.seq += 1
        return {"seq": self.seq, "ts": iso(at or datetime.now(UTC)), **(vitals or OXIMETRY)}

    async def send(self, readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self.device is not None
        await self.device.send({"type": "batch", "readings": readings})
        return [await self.device.recv(timeout=10) for _ in readings]

    async def keep_measuring(
        self, until: Callable[[], Awaitable[bool]], timeout: float = 20
    ) -> None:
        """A reading every half second (buffered while offline) until ``until()`` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await until():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            reading = self.measure()
            if self.device is None:
                self.buffered.append(reading)
            else:
                assert [r["type"] for r in await self.send([reading])] == ["ack"]
            await asyncio.sleep(0.5)


def for_seconds(seconds: float) -> Callable[[], Awaitable[bool]]:
    """Keeps events apart by more than the replay's tolerance, so they cannot swap."""
    deadline = asyncio.get_running_loop().time() + seconds

    async def check() -> bool:
        return asyncio.get_running_loop().time() >= deadline

    return check


async def live_events(clinic: Clinic, session_id: int) -> list[tuple[Any, ...]]:
    rows = await clinic.query(
        "SELECT e.at, e.event, a.rule, e.priority, e.measured_at FROM alert_event e "
        "JOIN alert a ON a.id = e.alert_id WHERE a.session_id = :s ORDER BY e.id",
        s=session_id,
    )
    return [
        (parse(at), event, rule, prio, measured and parse(measured))
        for at, event, rule, prio, measured in rows
    ]


def happened(
    clinic: Clinic, session_id: int, rule: str, event: str
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(e[1:3] == (event, rule) for e in await live_events(clinic, session_id))

    return check


def replay_offline(export: Path, rules: Path) -> list[dict[str, Any]]:
    """``chairside replay EXPORT --offline --json --rules RULES``: the events it prints."""
    command = ["replay", str(export), "--offline", "--json", "--rules", str(rules)]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *command], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # every input applied as it was live
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_a_live_session_with_a_lost_link_a_catch_up_batch_and_an_acknowledgement_replays_offline_as_it_ran(
    clinic: Clinic, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    settings = clinic.settings.model_copy(update={"rules_file": rules})
    server = LiveServer(settings).start()
    own = Clinic(server=server, settings=settings)
    nurse = await login(own, "nurse")
    clinician = await login(own, "clinician")
    try:
        token, _, chair_id = await own.add_device("Chair 7")
        start = datetime.now(UTC)
        # Opened late: the monitor has been measuring for eight minutes, the dose was at -7.
        created = await nurse.post(
            "/api/sessions",
            json={
                "chair_id": chair_id,
                "protocol": "spravato",
                "patient_label": "LR",
                "started_at": iso(start - timedelta(minutes=8)),
            },
        )
        session_id = created.json()["id"]
        dosed = await nurse.post(
            f"/api/sessions/{session_id}/dose", json={"at": iso(start - timedelta(minutes=7))}
        )
        assert dosed.status_code == 200, dosed.text
        monitor = Monitor()
        async with device_connect(server, token) as conn:
            monitor.device = Device(conn)
            # Its catch-up batch: the BP has been high for six minutes.
            late = [
                monitor.measure(start - timedelta(minutes=6 - i), sbp=163 + i, dbp=92, map=116)
                for i in range(6)
            ]
            assert {r["type"] for r in await monitor.send(late)} == {"ack"}
            await monitor.keep_measuring(happened(own, session_id, "sbp_high", "escalated"))
            await monitor.keep_measuring(for_seconds(1.5))  # clear of it
            (alert,) = [
                a
                for a in (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
                if a["rule"] == "sbp_high"
            ]
            # Escalated: the alert says since when, and its message still names the condition.
            assert alert["escalated_at"] is not None and alert["state"] == "active"
            assert alert["message"].startswith("SBP ") and "≥ 160 mmHg" in alert["message"]
            acked = await clinician.post(f"/api/alerts/{alert['id']}/ack", json={"note": "recheck"})
            assert acked.status_code == 200, acked.text
            # Still high three seconds later: it alarms again, and the escalation wait restarts.
            await monitor.keep_measuring(happened(own, session_id, "sbp_high", "re-alarmed"))
            again = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
            (realarmed,) = [a for a in again if a["rule"] == "sbp_high"]
            assert realarmed["state"] == "active" and realarmed["escalated_at"] is None
            await monitor.keep_measuring(for_seconds(1.5))
        monitor.device = None  # the link is lost; the monitor keeps measuring
        await monitor.keep_measuring(happened(own, session_id, "monitor_disconnected", "raised"))
        monitor.buffered.append(monitor.measure(sbp=142, dbp=84, map=103))
        await monitor.keep_measuring(for_seconds(1.5))
        async with device_connect(server, token) as conn:
            monitor.device = Device(conn)
            assert {r["type"] for r in await monitor.send(monitor.buffered)} == {"ack"}
            await monitor.keep_measuring(happened(own, session_id, "sbp_high", "cleared"))
            # Three readings the ingest rejects: a technical alert.
            bad = [{"seq": monitor.seq + n, "ts": "yesterday", "hr": 80} for n in (1, 2, 3)]
            monitor.seq += 3
            assert {r["code"] for r in await monitor.send(bad)} == {"invalid_ts"}
            await monitor.keep_measuring(happened(own, session_id, "rejected_readings", "raised"))
            ended = await nurse.post(f"/api/sessions/{session_id}/end")
            assert ended.status_code == 200

        async def all_resolved() -> bool:
            alerts = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
            return all(a["state"] == "resolved" for a in alerts)

        for _ in range(50):
            if await all_resolved():
                break
            await asyncio.sleep(0.1)
        exported = await nurse.get(f"/api/sessions/{session_id}/export")
    finally:
        await nurse.aclose()
        await clinician.aclose()
        server.stop()
    record = exported.json()
    t0 = parse(record["t0"])
    live = await live_events(own, session_id)
    (tmp_path / "export.json").write_bytes(exported.content)
    offline = await asyncio.to_thread(replay_offline, tmp_path / "export.json", rules)

    # The same events, in the same order, as the live session raised them.
    assert [(rule, event, prio) for _, event, rule, prio, _ in live] == [
        (e["rule"], e["event"], e["priority"]) for e in offline
    ]
    kinds = {(e["rule"], e["event"]) for e in offline}
    assert {
        ("sbp_high", "raised"),
        ("sbp_high", "escalated"),
        ("sbp_high", "acknowledged"),
        ("sbp_high", "re-alarmed"),
        ("monitor_disconnected", "raised"),
        ("monitor_disconnected", "cleared"),
        ("sbp_high", "cleared"),
        ("rejected_readings", "raised"),
    } <= kinds
    for (at, event, rule, _, measured), mine in zip(live, offline, strict=True):
        live_t = (at - t0).total_seconds()
        exact = event == "acknowledged"
        assert abs(live_t - mine["t_s"]) <= (0.001 if exact else TICK_TOLERANCE_S), (rule, event)
        live_measured = None if measured is None else round((measured - t0).total_seconds(), 3)
        assert mine["measured_t_s"] == live_measured, (rule, event)
    (ack,) = [e for e in offline if e["event"] == "acknowledged"]
    assert (ack["user"], ack["note"]) == ("clinician", "recheck")
    # The catch-up batch raised sbp_high when it arrived, for a reading six minutes old.
    (raised,) = [e for e in offline if (e["rule"], e["event"]) == ("sbp_high", "raised")]
    assert raised["t_s"] - raised["measured_t_s"] > 5 * 60
    # What the engine was told about the monitor; the last disconnection came after the end.
    assert [e["event"] for e in record["monitor_events"]] == [
        "connected", "disconnected", "connected", "rejected", "rejected", "rejected",
    ]  # fmt: skip
