"""The alert engine's state is stored with every alert it raises, and otherwise once a period
(at a steady rate), so a restart replays at most a period of readings. A runner of its own, on
the real database, with a clock the test moves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select

from app import alerts
from app.db import create_engine, create_sessionmaker
from app.hub import MemoryHub
from app.live.runner import SNAPSHOT_EVERY_S, AlertRunner
from app.main import rules_source
from app.models import Alert, Device, EngineSnapshot, Reading, TreatmentSession
from app.models.base import utcnow
from tests.support import Clinic
from tests.test_alerts_live import start_session


async def until(check: Callable[[], Any], what: str) -> Any:
    for _ in range(100):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_state_is_stored_with_alerts_and_once_a_period_without(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    quiet_chair = (await clinic.add_device("Chair 1"))[2]
    busy_chair = (await clinic.add_device("Chair 2"))[2]
    quiet = await start_session(nurse, quiet_chair)
    busy = await start_session(nurse, busy_chair)
    engine = create_engine(clinic.settings)
    db = create_sessionmaker(engine)
    hub = MemoryHub()
    await hub.start()
    now = [time.time()]
    runner = AlertRunner(db, hub, rules_source(clinic.settings), clock=lambda: now[0], tick_s=3600)
    await runner.start()
    next_id = iter(range(1, 1000))

    def reading(session: int, chair: int, **vitals: float) -> dict[str, Any]:
        ts = datetime.fromtimestamp(now[0], UTC).isoformat().replace("+00:00", "Z")
        return {"id": next(next_id), "chair_id": chair, "session_id": session, "ts": ts, **vitals}

    async def snapshot(session: int) -> EngineSnapshot | None:
        async with db() as s:
            return await s.get(EngineSnapshot, session)

    async def alert_of(session: int) -> Alert | None:
        async with db() as s:
            return await s.scalar(select(Alert).where(Alert.session_id == session))

    try:
        # Normal readings for one chair, a critical BP for the other, in one batch.
        await hub.publish(
            "readings",
            {
                "type": "readings",
                "readings": [
                    reading(quiet, quiet_chair, sbp=121, dbp=79, hr=70, spo2=98),
                    reading(busy, busy_chair, sbp=186, dbp=90, hr=80, spo2=97),
                ],
            },
        )
        await until(lambda: alert_of(busy), "the busy chair's alert is stored")
        stored = await snapshot(busy)
        assert stored is not None and stored.last_reading_id == 2  # with its alert, at once
        before = await snapshot(quiet)  # stored at start-up, before its reading
        assert before is not None and before.last_reading_id == 0  # no alert: waits its period

        now[0] += SNAPSHOT_EVERY_S + 1
        last = reading(busy, busy_chair, sbp=184, dbp=90, hr=80, spo2=97)
        await hub.publish("readings", {"type": "readings", "readings": [last]})

        async def saved_again() -> EngineSnapshot | None:
            found = await snapshot(quiet)
            return found if found is not None and found.last_reading_id else None

        quiet_state = await until(saved_again, "the quiet chair's periodic save")
        assert quiet_state.last_reading_id == 1
        assert quiet_state.state["engine"]["latest"]["sbp"] == 121
    finally:
        await runner.stop()
        await hub.stop()
        await engine.dispose()


async def test_restart_before_the_first_save_puts_the_dose_after_the_predose_readings(
    clinic: Clinic,
) -> None:
    """A server stopped after the dose but before the session's state was ever stored: the
    restored engine takes its baseline from the readings before the dose, as live it did."""
    chair = (await clinic.add_device("Chair 3"))[2]
    now = datetime.now(UTC)
    dose_at = now - timedelta(minutes=10)
    engine = create_engine(clinic.settings)
    db = create_sessionmaker(engine)
    async with engine.begin() as conn:
        device = await conn.scalar(select(Device.id).where(Device.chair_id == chair))
        session = await conn.scalar(
            insert(TreatmentSession)
            .values(chair_id=chair, protocol="spravato", patient_label="RS",
                    started_at=now - timedelta(minutes=40), dose_at=dose_at, limit_overrides={})
            .returning(TreatmentSession.id)
        )  # fmt: skip
        measured = [(-30, 128), (-20, 132), (-15, 130), (-5, 134), (5, 150)]  # min from dose
        await conn.execute(
            insert(Reading),
            [
                {"chair_id": chair, "session_id": session, "device_id": device, "seq": i,
                 "measured_at": dose_at + timedelta(minutes=m), "received_at": now,
                 "sbp": sbp, "dbp": 80, "hr": 72}
                for i, (m, sbp) in enumerate(measured)
            ],
        )  # fmt: skip
    hub = MemoryHub()
    await hub.start()
    runner = AlertRunner(db, hub, rules_source(clinic.settings))
    await runner.start()
    try:
        async with db() as s:
            stored = await s.get(EngineSnapshot, session)
            rules = set(await s.scalars(select(Alert.rule).where(Alert.session_id == session)))
        assert stored is not None
        # The median of the readings in the 30 minutes before the dose (-30 is on the edge
        # and counts; +5 is after it): 128, 132, 130, 134 -> 131.
        assert stored.state["engine"]["baseline"]["sbp"] == 131
        assert "predose_bp_missing" not in rules
    finally:
        await runner.stop()
        await hub.stop()
        await engine.dispose()


async def _open_session(clinic: Clinic, name: str) -> tuple[int, int, datetime]:
    chair = (await clinic.add_device(name))[2]
    started = datetime.now(UTC) - timedelta(minutes=10)
    engine = create_engine(clinic.settings)
    async with engine.begin() as conn:
        session = await conn.scalar(
            insert(TreatmentSession)
            .values(chair_id=chair, protocol="spravato", patient_label="NL",
                    started_at=started, limit_overrides={})
            .returning(TreatmentSession.id)
        )  # fmt: skip
    await engine.dispose()
    assert session is not None
    return chair, session, started


def _limit(rules: dict[str, Any], rule_id: str) -> float:
    return next(r["threshold"] for r in rules["rules"] if r["id"] == rule_id)


async def test_new_limits_are_stored_with_the_next_batch_and_a_restart_keeps_them(
    clinic: Clinic,
) -> None:
    """A clinician raises a patient's SBP limit; the server restarts before any periodic
    save: the restored engine alarms at the patient's limit, not the default."""
    chair, session, started = await _open_session(clinic, "Chair 4")
    engine = create_engine(clinic.settings)
    db = create_sessionmaker(engine)
    hub = MemoryHub()
    await hub.start()
    now = [time.time()]  # never moved: no periodic save can happen
    source = rules_source(clinic.settings)

    def runner() -> AlertRunner:
        return AlertRunner(db, hub, source, clock=lambda: now[0], tick_s=3600)

    first = runner()
    await first.start()
    second: AlertRunner | None = None
    try:
        session_message = {
            "id": session, "chair_id": chair, "protocol": "spravato",
            "started_at": started.isoformat(), "dose_at": None, "ended_at": None,
            "limit_overrides": {"sbp_high": {"threshold": 170}}, "engine_clock": "wall",
        }  # fmt: skip
        await hub.publish("sessions", {"type": "session", "session": session_message})

        async def stored_limit() -> float | None:
            async with db() as s:
                row = await s.get(EngineSnapshot, session)
            limit = (
                _limit(row.setup["rules"], "sbp_high") if row is not None and row.setup else None
            )
            return limit if limit == 170 else None

        await until(stored_limit, "the new limit stored with the next batch")
        await first.stop()

        second = runner()
        await second.start()
        ts = datetime.fromtimestamp(now[0], UTC).isoformat().replace("+00:00", "Z")
        readings = [
            {"id": 1, "chair_id": chair, "session_id": session, "ts": ts, "sbp": 165, "dbp": 88},
            {"id": 2, "chair_id": chair, "session_id": session, "ts": ts, "sbp": 174, "dbp": 90},
        ]
        for one in readings:
            await hub.publish("readings", {"type": "readings", "readings": [one]})

            async def high() -> Alert | None:
                async with db() as s:
                    return await s.scalar(
                        select(Alert).where(Alert.session_id == session, Alert.rule == "sbp_high")
                    )

            if one["sbp"] == 174:
                alert = await until(high, "sbp_high at the patient's limit")
                assert alert.value == 174 and "170" in alert.message  # not raised at 165
    finally:
        if second is not None:
            await second.stop()
        await hub.stop()
        await engine.dispose()


async def test_a_state_stored_in_the_older_form_is_restored_and_stored_anew(
    clinic: Clinic,
) -> None:
    """After an upgrade, a session's state stored by the previous version (set-up inside the
    state) is restored as it was, and the next save stores its set-up apart."""
    _, session, started = await _open_session(clinic, "Chair 5")
    setup = alerts.SessionSetup(
        protocol="spravato", started_at=started.timestamp(), dose_at=None,
        rules=rules_source(clinic.settings)("spravato", {"sbp_high": {"threshold": 165}}),
    )  # fmt: skip
    older = {"engine": alerts.state_to_dict(alerts.new_state(setup)), "pending_dose": None}
    engine = create_engine(clinic.settings)
    db = create_sessionmaker(engine)
    async with db() as s:
        s.add(
            EngineSnapshot(
                session_id=session, state=older, setup=None, last_reading_id=0,
                updated_at=utcnow(),
            )
        )  # fmt: skip
        await s.commit()
    hub = MemoryHub()
    await hub.start()
    runner = AlertRunner(db, hub, rules_source(clinic.settings), tick_s=3600)
    await runner.start()
    try:

        async def converted() -> EngineSnapshot | None:
            async with db() as s:
                row = await s.get(EngineSnapshot, session)
            return row if row is not None and row.setup is not None else None

        row = await until(converted, "the set-up stored apart")
        assert "setup" not in row.state["engine"]
        assert _limit(row.setup["rules"], "sbp_high") == 165  # the session's own limit, kept
    finally:
        await runner.stop()
        await hub.stop()
        await engine.dispose()
