"""A session's NIBP interval (the cuff's cycle): stored, changed and audited; the live engine
and the offline replay expect BP readings at that interval, not at a fixed 5 minutes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from app.cli import build_parser
from app.cli import main as cli_main
from app.services import audit, sessions
from simulators.clinic import run_clinic
from tests.conftest import login
from tests.support import PASSWORD, TRACES, Clinic, Device, LiveServer, device_connect
from tests.test_alerts_live import iso, wait_for_alert
from tests.test_cli import chairside
from tests.test_dashboard_stream import dashboard_connect, next_of

T = TypeVar("T")
TEN_MIN = 600
# bp_overdue fires after 1.5 cycles without a BP: at 7.5 min on a 5-minute cycle, so a
# 10-minute cuff makes it between every two readings; at 15 min on a 10-minute cycle.
CUFF_TIMES = range(0, 3601, TEN_MIN)


def _body(chair_id: int, **extra: Any) -> dict[str, Any]:
    return {"chair_id": chair_id, "protocol": "spravato", "patient_label": "NI", **extra}


async def replay_session(nurse: httpx.AsyncClient, chair_id: int, interval_s: int | None) -> int:
    """A session on the readings' clock, opened two hours ago, so that an hour of cuff readings
    can be sent now and the engine runs through it as it happened."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    extra: dict[str, Any] = {"engine_clock": "readings", "started_at": iso(started)}
    if interval_s is not None:
        extra["nibp_interval_s"] = interval_s
    created = await nurse.post("/api/sessions", json=_body(chair_id, **extra))
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def send_cuff(device: Device, started: datetime, times: range | list[int], seq: int) -> int:
    """A BP reading at each of ``times`` (seconds from ``started``); returns the next seq."""
    for t in times:
        at = started + timedelta(seconds=t)
        reply = await device.reading(seq=seq, ts=iso(at), sbp=124, dbp=78, map=93)
        assert reply["type"] == "ack", reply
        seq += 1
    return seq


async def send_sentinel(device: Device, started: datetime, t: int, seq: int) -> None:
    """A critical BP after the others: once its alert is stored, the engine has seen them all."""
    at = started + timedelta(seconds=t)
    reply = await device.reading(seq=seq, ts=iso(at), sbp=190, dbp=104, map=133)
    assert reply["type"] == "ack", reply


async def session_start(nurse: httpx.AsyncClient, session_id: int) -> datetime:
    session = (await nurse.get(f"/api/sessions/{session_id}")).json()
    return datetime.fromisoformat(session["started_at"])


async def overdue_count(client: httpx.AsyncClient, session_id: int) -> int:
    alerts = (await client.get("/api/alerts", params={"session_id": session_id})).json()
    return sum(1 for a in alerts if a["rule"] == "bp_overdue")


async def until(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 10) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


NO_ROW = -1.0


async def stored_cycle(clinic: Clinic, session_id: int) -> float | None:
    """The NIBP cycle in the engine's stored set-up for the session (None: not set; NO_ROW:
    no set-up stored yet)."""
    rows = await clinic.query(
        "SELECT setup FROM engine_snapshot WHERE session_id = :s", s=session_id
    )
    if not rows or rows[0][0] is None:
        return NO_ROW
    setup = rows[0][0] if isinstance(rows[0][0], dict) else json.loads(rows[0][0])
    cycle: float | None = setup["nibp_cycle_s"]
    return cycle


# -- storage, REST, audit ------------------------------------------------------------------


async def test_the_interval_is_stored_returned_changed_and_audited(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair N1")
    created = await nurse.post("/api/sessions", json=_body(chair_id, nibp_interval_s=TEN_MIN))
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    assert created.json()["nibp_interval_s"] == TEN_MIN
    assert (await nurse.get(f"/api/sessions/{session_id}")).json()["nibp_interval_s"] == TEN_MIN
    chairs = (await nurse.get("/api/chairs")).json()
    assert [c["session"]["nibp_interval_s"] for c in chairs if c["session"]] == [TEN_MIN]
    stored = await clinic.query(
        "SELECT nibp_interval_s FROM treatment_session WHERE id = :s", s=session_id
    )
    assert stored == [(TEN_MIN,)]

    url = f"/api/sessions/{session_id}/nibp-interval"
    async with dashboard_connect(clinic, nurse) as screen:
        await next_of(screen, "snapshot")
        hourly = await nurse.put(url, json={"nibp_interval_s": 3600})
        assert hourly.status_code == 200, hourly.text
        assert hourly.json()["nibp_interval_s"] == 3600
        shown = await next_of(screen, "session")
    assert shown["session"]["id"] == session_id and shown["session"]["nibp_interval_s"] == 3600
    unset = await nurse.put(url, json={"nibp_interval_s": None})
    assert unset.status_code == 200 and unset.json()["nibp_interval_s"] is None

    trail = (await clinician.get("/api/audit", params={"target_type": "session"})).json()
    assert [(e["actor"], e["action"], e["detail"]) for e in reversed(trail)] == [
        (
            "nurse",
            "session.start",
            {"chair_id": chair_id, "protocol": "spravato", "nibp_interval_s": TEN_MIN},
        ),
        ("nurse", "session.nibp_interval", {"from": TEN_MIN, "to": 3600}),
        ("nurse", "session.nibp_interval", {"from": 3600, "to": None}),
    ]


BAD_INTERVALS = [59, 4 * 3600 + 1, 600.5, -300, "ten minutes"]


async def test_a_bad_interval_is_refused_naming_the_field_and_changes_nothing(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair N3")
    for bad in BAD_INTERVALS:
        refused = await nurse.post("/api/sessions", json=_body(chair_id, nibp_interval_s=bad))
        assert refused.status_code == 422, bad
        assert ["body", "nibp_interval_s"] in [e["loc"] for e in refused.json()["detail"]]
    assert (await nurse.get("/api/sessions")).json() == []

    # Without one, the session has none (the protocol's default applies).
    started = await nurse.post("/api/sessions", json=_body(chair_id))
    assert started.status_code == 201 and started.json()["nibp_interval_s"] is None
    url = f"/api/sessions/{started.json()['id']}/nibp-interval"
    bodies = [{"nibp_interval_s": bad} for bad in BAD_INTERVALS]
    for body in [*bodies, {}, {"nibp_interval_s": 600, "cycle": 1}]:
        refused = await nurse.put(url, json=body)
        assert refused.status_code == 422, body
        named = {e["loc"][-1] for e in refused.json()["detail"]}
        assert named == ({"cycle"} if "cycle" in body else {"nibp_interval_s"}), body
    assert (await nurse.get("/api/sessions")).json()[0]["nibp_interval_s"] is None
    trail = (await clinician.get("/api/audit", params={"target_type": "session"})).json()
    assert [e["action"] for e in trail] == ["session.start"]


async def test_the_interval_of_an_ended_or_unknown_session_cannot_be_changed(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair N4")
    session_id = (await nurse.post("/api/sessions", json=_body(chair_id))).json()["id"]
    assert (await nurse.post(f"/api/sessions/{session_id}/end")).status_code == 200
    ended = await nurse.put(
        f"/api/sessions/{session_id}/nibp-interval", json={"nibp_interval_s": 600}
    )
    assert ended.status_code == 409 and "ended" in ended.json()["detail"]
    unknown = await nurse.put("/api/sessions/999999/nibp-interval", json={"nibp_interval_s": 600})
    assert unknown.status_code == 404


async def test_the_service_refuses_an_interval_outside_the_bounds(clinic: Clinic) -> None:
    """Callers other than the API (the command line, scripts) get the same bounds."""
    _, _, chair_id = await clinic.add_device("Chair N5")

    async def start(db: Any) -> None:
        await sessions.start_session(
            db, chair_id, "spravato", "NI", {}, audit.CLI_ACTOR, nibp_interval_s=30
        )

    with pytest.raises(sessions.InvalidInput, match="nibp_interval_s"):
        await clinic.db_work(start)
    assert await clinic.query("SELECT id FROM treatment_session") == []


# -- the live engine -----------------------------------------------------------------------


async def test_a_ten_minute_cuff_raises_no_bp_overdue_where_a_five_minute_cycle_would(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    counts = {}
    for interval in (TEN_MIN, 300):
        token, _, chair_id = await clinic.add_device(f"Chair C{interval}")
        session_id = await replay_session(nurse, chair_id, interval)
        started = await session_start(nurse, session_id)
        async with device_connect(clinic.server, token) as conn:
            device = Device(conn)
            seq = await send_cuff(device, started, CUFF_TIMES, 1)
            await send_sentinel(device, started, CUFF_TIMES[-1] + 60, seq)
        await wait_for_alert(nurse, session_id, "sbp_critical")
        counts[interval] = await overdue_count(nurse, session_id)
    # Six 10-minute gaps: each passes 7.5 min, none passes 15 min.
    assert counts == {TEN_MIN: 0, 300: 6}


async def test_a_changed_interval_reaches_the_live_engine_and_its_stored_setup(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    token, _, chair_id = await clinic.add_device("Chair C")
    session_id = await replay_session(nurse, chair_id, TEN_MIN)
    started = await session_start(nurse, session_id)

    def cycle_is(expected: float | None) -> Callable[[], Awaitable[bool | None]]:
        async def probe() -> bool | None:
            return True if await stored_cycle(clinic, session_id) == expected else None

        return probe

    await until(cycle_is(TEN_MIN), "the new session's set-up stored")
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        seq = await send_cuff(device, started, [0, 600, 1200], 1)
        # The nurse sees the cuff was set to 5 minutes: a 10-minute gap is now overdue.
        changed = await nurse.put(
            f"/api/sessions/{session_id}/nibp-interval", json={"nibp_interval_s": 300}
        )
        assert changed.status_code == 200, changed.text
        await until(cycle_is(300), "the changed set-up stored with the next batch")
        seq = await send_cuff(device, started, [1800], seq)
        overdue = await wait_for_alert(nurse, session_id, "bp_overdue")
    assert "5 min" in overdue["message"]
    history = (await nurse.get(f"/api/alerts/{overdue['id']}/history")).json()
    assert [h["event"] for h in history] == ["raised", "cleared"]
    # Raised 7.5 min after the reading at 20 min: under the new cycle, not the old one.
    raised_at = datetime.fromisoformat(history[0]["at"])
    assert raised_at == started + timedelta(seconds=1200 + 450)
    # Not set again: the engine's set-up has none either (the rule set's, or as measured).
    unset = await nurse.put(
        f"/api/sessions/{session_id}/nibp-interval", json={"nibp_interval_s": None}
    )
    assert unset.status_code == 200, unset.text
    await until(cycle_is(None), "the set-up without an interval stored")


async def test_an_interval_changed_while_the_engine_was_down_is_restored(
    clinic: Clinic,
) -> None:
    """The change committed, the server stopped before its engine saw it: the restored engine
    follows the session's interval, not the one in its stored state."""
    server = LiveServer(clinic.settings).start()
    own = Clinic(server=server, settings=clinic.settings)
    try:
        nurse = await login(own, "nurse")
        token, _, chair_id = await own.add_device("Chair R")
        session_id = await replay_session(nurse, chair_id, TEN_MIN)
        started = await session_start(nurse, session_id)
        async with device_connect(server, token) as conn:
            seq = await send_cuff(Device(conn), started, [0, 600, 1200], 1)

        async def stored_ten() -> bool | None:
            return True if await stored_cycle(own, session_id) == TEN_MIN else None

        await until(stored_ten, "the session's set-up stored")
        server.stop()

        async def change(db: Any) -> None:
            await sessions.set_nibp_interval(db, session_id, 300, audit.CLI_ACTOR)

        await own.db_work(change)
        server = LiveServer(clinic.settings).start()
        own = Clinic(server=server, settings=clinic.settings)
        assert await stored_cycle(own, session_id) == 300  # stored by the restore
        async with device_connect(server, token) as conn:
            await send_cuff(Device(conn), started, [1800], seq)
        await nurse.aclose()
        nurse = await login(own, "nurse")
        overdue = await wait_for_alert(nurse, session_id, "bp_overdue")
        assert "5 min" in overdue["message"]
        await nurse.aclose()
    finally:
        server.stop()


# -- offline replay and export -------------------------------------------------------------


def _overdue_raised(stdout: str) -> int:
    events = [json.loads(line) for line in stdout.splitlines()]
    return sum(1 for e in events if e["event"] == "raised" and e["rule"] == "bp_overdue")


def test_offline_replay_of_an_hourly_cuff_with_its_interval_raises_far_fewer_bp_overdue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # MIMIC-II s00001: the cuff ran hourly for long stretches.
    trace = str(TRACES / "mimic2_s00001_numerics_1min.csv")
    hourly = chairside(tmp_path, "replay", trace, "--offline", "--json", "--nibp-interval", "3600")
    assert hourly.returncode == 0, hourly.stderr
    counts = {"3600": _overdue_raised(hourly.stdout)}
    for interval in ("300", None):
        extra = ["--nibp-interval", interval] if interval else []
        capsys.readouterr()
        assert cli_main(["replay", trace, "--offline", "--json", *extra]) == 0
        counts[interval or "unset"] = _overdue_raised(capsys.readouterr().out)
    # A fixed 5-minute cycle raised it 124 times; the session's hourly interval not at all.
    # Not set, the engine expects the cycle it measures (raised only before it has seen one).
    assert counts["300"] > 100
    assert counts["3600"] == 0
    assert counts["3600"] <= counts["unset"] < counts["300"] / 10, counts


def test_offline_replay_refuses_an_interval_outside_the_bounds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace = str(TRACES / "mimic2_s00001_numerics_1min.csv")
    for bad in ("30", "86400", "ten"):
        with pytest.raises(SystemExit) as refused:
            build_parser().parse_args(["replay", trace, "--offline", "--nibp-interval", bad])
        assert refused.value.code == 2
        assert "--nibp-interval" in capsys.readouterr().err
    args = build_parser().parse_args(["replay", trace, "--offline", "--nibp-interval", "3600"])
    assert args.nibp_interval == 3600


async def test_an_export_carries_the_interval_and_its_offline_replay_uses_it(
    clinic: Clinic, nurse: httpx.AsyncClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token, _, chair_id = await clinic.add_device("Chair E")
    session_id = await replay_session(nurse, chair_id, TEN_MIN)
    started = await session_start(nurse, session_id)
    async with device_connect(clinic.server, token) as conn:
        seq = await send_cuff(Device(conn), started, CUFF_TIMES, 1)
        await send_sentinel(Device(conn), started, CUFF_TIMES[-1] + 60, seq)
    await wait_for_alert(nurse, session_id, "sbp_critical")
    exported = await nurse.get(f"/api/sessions/{session_id}/export")
    assert exported.status_code == 200
    record = exported.json()
    assert record["nibp_interval_s"] == TEN_MIN
    assert record["session"]["nibp_interval_s"] == TEN_MIN
    path = tmp_path / "session.json"
    path.write_bytes(exported.content)

    capsys.readouterr()
    assert cli_main(["replay", str(path), "--offline", "--json"]) == 0
    assert _overdue_raised(capsys.readouterr().out) == 0 == await overdue_count(nurse, session_id)
    # An interval given on the command line wins over the export's.
    assert cli_main(["replay", str(path), "--offline", "--json", "--nibp-interval", "300"]) == 0
    assert _overdue_raised(capsys.readouterr().out) == 6


# -- the simulator -------------------------------------------------------------------------


async def test_a_simulated_clinic_sets_up_its_sessions_with_its_cuff_cycle(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    url = clinic.server.url
    report = await run_clinic(
        url, "admin", PASSWORD, 2, 2000.0, 3, "typical", 600.0, False, nibp_cycle_s=TEN_MIN
    )
    assert report.errors == 0
    sessions = (await admin.get("/api/sessions")).json()
    assert [s["nibp_interval_s"] for s in sessions] == [TEN_MIN, TEN_MIN]
