"""Replay: a trace streamed live to the server raises exactly what the offline run raises;
a stored session exports as CSV and JSON and replays from its export."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from app.trace import run_offline
from simulators.courses import session_readings, write_trace_csv
from simulators.replay import MAX_SPEED, replay_live
from tests.support import PASSWORD, Clinic, together

DOSE_S = 1500.0


def course_trace(tmp_path: Path, scenario: str, minutes: int = 75) -> tuple[Path, list]:
    readings = session_readings(scenario, "spravato", 11, 1, minutes * 60.0, DOSE_S)
    path = tmp_path / f"{scenario}.csv"
    write_trace_csv(readings, path)
    return path, readings


def parse_csv(text: str) -> list[list[float | None]]:
    lines = text.strip().splitlines()
    assert lines[0] == "t_s,sbp,dbp,map,hr,spo2"
    return [[float(c) if c else None for c in line.split(",")] for line in lines[1:]]


async def live_events(clinic: Clinic, session_id: int, base: datetime, expected: int) -> list:
    """The stored alert history of a session, once the engine has caught up."""
    rows: list = []
    for _ in range(150):
        rows = await clinic.query(
            "SELECT e.at, e.event, a.rule, e.priority, e.value FROM alert_event e "
            "JOIN alert a ON a.id = e.alert_id WHERE a.session_id = :s ORDER BY e.id",
            s=session_id,
        )
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.1)
    out = []
    for at, event, rule, priority, value in rows:
        at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        out.append((round((at - base).total_seconds(), 3), event, rule, priority, value))
    return out


async def test_live_replay_at_full_speed_raises_exactly_what_offline_replay_raises(
    clinic: Clinic, tmp_path: Path
) -> None:
    path, readings = course_trace(tmp_path, "hypertensive")
    offline = [
        (e["t_s"], e["event"], e["rule"], e["priority"], e["value"])
        for e in run_offline(path, "spravato", DOSE_S)
    ]
    # The course raises more than one kind of alert, so the comparison means something.
    assert {"sbp_critical", "sbp_high"} <= {rule for _, _, rule, _, _ in offline}
    report = await replay_live(
        clinic.server.url,
        "admin",
        PASSWORD,
        readings,
        "spravato",
        DOSE_S,
        MAX_SPEED,
        keep_open=True,
        progress=False,
    )
    assert report.stats.acked == len(readings) and report.stats.errors == 0
    live = await live_events(clinic, report.session_id, report.base, len(offline))
    assert live == offline


async def test_replay_at_a_finite_speed_gives_the_same_alerts(
    clinic: Clinic, tmp_path: Path
) -> None:
    path, readings = course_trace(tmp_path, "desaturation", minutes=70)
    offline = [
        (e["t_s"], e["event"], e["rule"], e["priority"], e["value"])
        for e in run_offline(path, "spravato", DOSE_S)
    ]
    assert "spo2_critical" in {rule for _, _, rule, _, _ in offline}
    report = await replay_live(
        clinic.server.url,
        "admin",
        PASSWORD,
        readings,
        "spravato",
        DOSE_S,
        1500.0,
        keep_open=True,
        progress=False,
    )
    live = await live_events(clinic, report.session_id, report.base, len(offline))
    assert live == offline


async def test_a_session_exports_as_csv_and_json_and_the_export_replays_offline(
    clinic: Clinic, nurse: httpx.AsyncClient, tmp_path: Path
) -> None:
    path, readings = course_trace(tmp_path, "marked-rise", minutes=70)
    report = await replay_live(
        clinic.server.url,
        "admin",
        PASSWORD,
        readings,
        "spravato",
        DOSE_S,
        MAX_SPEED,
        progress=False,
    )
    url = f"/api/sessions/{report.session_id}/export"
    as_json = await nurse.get(url)
    assert as_json.status_code == 200
    assert "attachment" in as_json.headers["content-disposition"]
    record = as_json.json()
    assert record["protocol"] == "spravato" and record["dose_at_s"] == DOSE_S
    assert len(record["readings"]) == len(readings)
    assert {a["rule"] for a in record["alerts"]} >= {"sbp_high"}
    assert all(a["history"][0]["event"] == "raised" for a in record["alerts"])
    as_csv = await nurse.get(url, params={"format": "csv"})
    # The CSV is the trace the session was replayed from, row for row.
    assert parse_csv(as_csv.text) == parse_csv(path.read_text())
    exported = tmp_path / "export.json"
    exported.write_bytes(as_json.content)
    # The export carries its protocol and dose time: replaying it needs no options.
    from_export = list(run_offline(exported, "spravato", record["dose_at_s"]))
    assert from_export == list(run_offline(path, "spravato", DOSE_S))
    refused = await nurse.get(url, params={"format": "xml"})
    assert refused.status_code == 422


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


async def test_replay_and_export_from_the_command_line(clinic: Clinic, tmp_path: Path) -> None:
    path, readings = course_trace(tmp_path, "tachycardia", minutes=60)
    env = {
        "CHAIRSIDE_SIM_PASSWORD": PASSWORD,
        "CHAIRSIDE_DATABASE_URL": clinic.settings.database_url,
    }
    replayed = await asyncio.to_thread(
        run_cli,
        "replay",
        str(path),
        "--speed",
        "max",
        "--url",
        clinic.server.url,
        "--dose-at",
        str(DOSE_S),
        "--chair",
        "Chair R",
        env=env,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert f"{len(readings)} acknowledged" in replayed.stderr
    session_id = int(replayed.stderr.split("session_id=")[1].split()[0])
    exported, as_csv, missing = await asyncio.to_thread(
        together,
        lambda: run_cli("export", str(session_id), env=env),
        lambda: run_cli("export", str(session_id), "--format", "csv", env=env),
        lambda: run_cli("export", "999999", env=env),
    )
    assert exported.returncode == 0, exported.stderr
    record = json.loads(exported.stdout)
    assert record["session"]["id"] == session_id and len(record["readings"]) == len(readings)
    assert parse_csv(as_csv.stdout) == parse_csv(path.read_text())
    assert missing.returncode == 2 and "no session with id 999999" in missing.stderr
