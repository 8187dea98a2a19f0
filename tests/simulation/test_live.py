"""Simulated chairs against the live server: every reading stored exactly once, sessions run."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from simulators.cli import add_simulate_parser
from simulators.clinic import ChairMonitor, plan_chair, run_clinic
from simulators.demo import ClinicThread
from tests.support import PASSWORD, Clinic

SPEED = 2000.0  # a simulated hour in under 2 s


async def stored_per_device(clinic: Clinic) -> list[tuple[int, int, int]]:
    """(device, rows, distinct seqs) of every device that stored readings."""
    rows = await clinic.query(
        "SELECT device_id, count(*) AS n, count(DISTINCT seq) AS seqs FROM reading"
        " GROUP BY device_id ORDER BY device_id"
    )
    return [(r.device_id, r.n, r.seqs) for r in rows]


async def test_short_run_stores_every_reading_exactly_once(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    report = await run_clinic(
        clinic.server.url, "admin", PASSWORD, 3, SPEED, 11, None, 1800.0, progress=False
    )
    assert report.errors == 0
    assert report.acked == report.readings == 3 * len(plan_chair(1, 11, None, 1800.0).readings)
    [(count,)] = await clinic.query("SELECT count(*) AS n FROM reading")
    assert count == report.acked
    assert all(rows == seqs for _device, rows, seqs in await stored_per_device(clinic))
    [(future,)] = await clinic.query(
        "SELECT count(*) FROM reading WHERE measured_at > :now", now=datetime.now(UTC)
    )
    assert future == 0
    sessions = (await admin.get("/api/sessions")).json()
    assert sorted(s["patient_label"] for s in sessions) == ["SIM-11-01", "SIM-11-02", "SIM-11-03"]
    assert all(s["ended_at"] is not None and s["dose_at"] is not None for s in sessions)
    [(in_sessions,)] = await clinic.query(
        "SELECT count(*) FROM reading WHERE session_id IS NOT NULL"
    )
    assert in_sessions == count
    devices = (await admin.get("/api/devices")).json()
    assert len(devices) == 3 and all(d["revoked_at"] is not None for d in devices)


async def test_disconnect_scenario_loses_no_reading_and_stores_none_twice(
    clinic: Clinic,
) -> None:
    plan = plan_chair(1, 5, "disconnect", 4200.0)
    assert plan.outage is not None
    report = await run_clinic(
        clinic.server.url, "admin", PASSWORD, 1, SPEED, 5, "disconnect", 4200.0, progress=False
    )
    monitor = report.chairs[0].monitor
    assert monitor.connects == 2
    assert monitor.errors == 0 and monitor.acked == len(plan.readings)
    rows = await clinic.query("SELECT seq, sbp, dbp, map, hr, spo2 FROM reading ORDER BY seq")
    assert [r.seq for r in rows] == list(range(len(plan.readings)))
    stored = [tuple(None if v is None else round(v) for v in r[1:]) for r in rows]
    assert stored == [(p.sbp, p.dbp, p.map, p.hr, p.spo2) for p in plan.readings]


async def test_an_open_session_on_the_chair_is_ended_before_a_new_one_starts(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    _token, _device, chair_id = await clinic.add_device("Sim chair 1")
    left_open = await admin.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "X"}
    )
    assert left_open.status_code == 201
    report = await run_clinic(
        clinic.server.url, "admin", PASSWORD, 1, SPEED, 3, "typical", 300.0, progress=False
    )
    assert report.acked == report.readings
    old = (await admin.get(f"/api/sessions/{left_open.json()['id']}")).json()
    assert old["ended_at"] is not None


async def test_given_monitor_tokens_are_used_and_not_revoked(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    token, _device, _chair = await clinic.add_device("Chair 1")
    for seed in (1, 2):  # a second run on the same device must not collide on seq
        report = await run_clinic(
            clinic.server.url,
            "admin",
            PASSWORD,
            1,
            SPEED,
            seed,
            "typical",
            120.0,
            progress=False,
            monitors=[ChairMonitor("Chair 1", token)],
        )
        assert report.acked == report.readings and report.duplicates == 0
    [(count,)] = await clinic.query("SELECT count(*) AS n FROM reading")
    assert count == 2 * report.readings
    devices = (await admin.get("/api/devices")).json()
    assert [d["revoked_at"] for d in devices] == [None]


async def test_stop_ends_the_run_early_and_closes_the_sessions(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    stop = asyncio.Event()
    run = asyncio.create_task(
        run_clinic(clinic.server.url, "admin", PASSWORD, 2, 60.0, 1, None, 9000.0, False, stop)
    )
    # Stopped once readings flow (on a busy machine the set-up alone can take seconds).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not run.done():
        [(stored,)] = await clinic.query("SELECT count(*) AS n FROM reading")
        if stored:
            break
        await asyncio.sleep(0.1)
    stop.set()
    report = await asyncio.wait_for(run, 15)
    assert 0 < report.acked < report.readings
    sessions = (await admin.get("/api/sessions")).json()
    assert len(sessions) == 2 and all(s["ended_at"] is not None for s in sessions)


def trace_files(directory: Path) -> dict[str, int]:
    """Each trace file's name and its number of readings (rows after the header)."""
    return {p.name: len(p.read_text().splitlines()) - 1 for p in directory.iterdir()}


async def test_simulate_command_streams_and_writes_replayable_traces(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = argparse.ArgumentParser()
    add_simulate_parser(parser.add_subparsers(dest="command"))
    argv = "simulate --chairs 2 --seed 4 --duration 5 --quiet --password-env SIM_TEST_PASSWORD"
    argv += f" --speed {SPEED} --url {clinic.server.url} --write-traces {tmp_path}"
    args = parser.parse_args(argv.split())
    monkeypatch.setenv("SIM_TEST_PASSWORD", PASSWORD)
    assert await asyncio.to_thread(args.handler, args, None) == 0
    traces = await asyncio.to_thread(trace_files, tmp_path)
    assert sorted(traces) == [
        "chair-01-typical-spravato-dose-300s.csv",
        "chair-02-hypertensive-iv-ketamine-dose-300s.csv",
    ]
    [(count,)] = await clinic.query("SELECT count(*) AS n FROM reading")
    assert count == sum(traces.values())


def wait_for_rounds(feed: ClinicThread, rounds: int, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while len(feed.reports) < rounds and feed.error is None and time.monotonic() < deadline:
        time.sleep(0.05)


async def test_clinic_thread_feeds_a_server_from_another_thread_until_stopped(
    clinic: Clinic,
) -> None:
    feed = ClinicThread(clinic.server.url, "admin", PASSWORD, 2, SPEED, 1, duration_s=60.0)
    feed.start()
    await asyncio.to_thread(wait_for_rounds, feed, 2)  # it repeats, next seed each round
    await asyncio.to_thread(feed.stop)
    assert feed.error is None and feed.join(0)
    assert all(r.acked == r.readings for r in feed.reports[:2])
    [(count,)] = await clinic.query("SELECT count(*) AS n FROM reading")
    assert count == sum(r.acked for r in feed.reports)
