"""A nurse's observations (sedation, dissociation, respiratory status) through a real server:
recorded under the nurse's name and audited, refused with a clear error when wrong, carried to
every screen and into the export, and fed to the live alert engine, which raises from them,
keeps them across a restart and replays them from the export as it ran."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select

from app.db import create_engine, create_sessionmaker
from app.export_replay import replay_export
from app.hub import MemoryHub
from app.live.runner import AlertRunner
from app.main import rules_source
from app.models import Alert, Observation, User
from tests.conftest import login
from tests.support import Clinic, LiveServer
from tests.test_alerts_live import start_session, wait_for_alert
from tests.test_dashboard_stream import dashboard_connect, next_of


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def observe(client: httpx.AsyncClient, session_id: int, **body: Any) -> httpx.Response:
    return await client.post(f"/api/sessions/{session_id}/observations", json=body)


async def test_a_nurse_records_observations_listed_in_time_order_with_who_and_when(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 4")
    session_id = await start_session(nurse, chair_id)
    before = datetime.now(UTC)
    first = await observe(nurse, session_id, moaas=4, dissociation="mild", note="  drowsy  ")
    assert first.status_code == 201, first.text
    made = first.json()
    assert made | {"id": 0, "at": "", "recorded_at": ""} == {
        "id": 0,
        "session_id": session_id,
        "chair_id": chair_id,
        "at": "",
        "moaas": 4,
        "dissociation": "mild",
        "respiratory": None,
        "note": "drowsy",
        "recorded_by": "nurse",
        "recorded_at": "",
    }
    assert before <= datetime.fromisoformat(made["at"]) <= datetime.now(UTC)
    assert made["at"] == made["recorded_at"]  # observed now: when it was entered
    # A finding written down a minute after it was made, by a clinician this time.
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    second = await observe(clinician, session_id, respiratory="normal", at=iso(earlier))
    assert second.status_code == 201, second.text
    assert datetime.fromisoformat(second.json()["at"]) == earlier

    listed = (await nurse.get(f"/api/sessions/{session_id}/observations")).json()
    assert [(o["recorded_by"], o["respiratory"], o["moaas"]) for o in listed] == [
        ("clinician", "normal", None),
        ("nurse", None, 4),
    ]
    trail = (await clinician.get("/api/audit", params={"target_type": "observation"})).json()
    assert sorted((e["actor"], e["action"], e["detail"]["session_id"]) for e in trail) == [
        ("clinician", "observation.record", session_id),
        ("nurse", "observation.record", session_id),
    ]
    (nurses,) = [e for e in trail if e["actor"] == "nurse"]
    assert nurses["target_id"] == made["id"]
    assert (nurses["detail"]["moaas"], nurses["detail"]["dissociation"]) == (4, "mild")


async def test_wrong_observations_get_a_clear_error_and_store_nothing(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 5")
    session_id = await start_session(nurse, chair_id)

    async def refused(status: int, **body: Any) -> Any:
        response = await observe(nurse, session_id, **body)
        assert response.status_code == status, (body, response.text)
        return response.json()["detail"]

    # An unknown score, level or state: the answer names the field.
    for body, field in [
        ({"moaas": 6}, "moaas"),
        ({"moaas": -1}, "moaas"),
        ({"moaas": 2.5}, "moaas"),
        ({"moaas": "3"}, "moaas"),
        ({"moaas": True}, "moaas"),
        ({"dissociation": "extreme"}, "dissociation"),
        ({"respiratory": "fast"}, "respiratory"),
        ({"moaas": 5, "sedation": 3}, "sedation"),
        ({"moaas": 5, "note": "x" * 501}, "note"),
    ]:
        issues = await refused(422, **body)
        assert [issue["loc"] for issue in issues] == [["body", field]], (body, issues)
    assert "nothing observed" in await refused(422)
    assert "nothing observed" in await refused(422, note="just a note")
    future = iso(datetime.now(UTC) + timedelta(minutes=5))
    assert "in the future" in await refused(422, moaas=5, at=future)
    long_ago = iso(datetime.now(UTC) - timedelta(hours=2))
    assert "before the session started" in await refused(422, moaas=5, at=long_ago)
    assert "no session with id 999999" in (await observe(nurse, 999999, moaas=5)).json()["detail"]
    assert (await observe(nurse, 999999, moaas=5)).status_code == 404
    assert (await nurse.get("/api/sessions/999999/observations")).status_code == 404

    assert (await nurse.get(f"/api/sessions/{session_id}/observations")).json() == []
    trail = (await clinician.get("/api/audit", params={"target_type": "observation"})).json()
    assert trail == []
    assert (await nurse.post(f"/api/sessions/{session_id}/end")).status_code == 200
    ended = await observe(nurse, session_id, moaas=5)
    assert ended.status_code == 409
    assert ended.json() == {
        "detail": f"session {session_id} has ended; an observation needs an open session",
        "code": "conflict",
    }
    assert (await nurse.get(f"/api/sessions/{session_id}/observations")).json() == []


async def test_an_observation_reaches_every_screen_and_the_export(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 6")
    session_id = await start_session(nurse, chair_id)
    async with dashboard_connect(clinic, clinician) as other:
        await next_of(other, "snapshot")
        made = (await observe(nurse, session_id, moaas=3, respiratory="normal")).json()
        message = await next_of(other, "observation")
    assert message == {"type": "observation", "observation": made}
    # A screen opened later has it in its snapshot, with the open session's others.
    async with dashboard_connect(clinic, nurse) as later:
        snapshot = await next_of(later, "snapshot")
    assert snapshot["observations"] == [made]

    record = (await nurse.get(f"/api/sessions/{session_id}/export")).json()
    (exported,) = record["observations"]
    t0 = datetime.fromisoformat(record["t0"])
    at = datetime.fromisoformat(made["at"])
    assert exported == made | {
        "t_s": round((at - t0).total_seconds(), 3),
        "recorded_t_s": round(
            (datetime.fromisoformat(made["recorded_at"]) - t0).total_seconds(), 3
        ),
    }
    # An ended session's observations stay in its record, not on the screens.
    assert (await nurse.post(f"/api/sessions/{session_id}/end")).status_code == 200
    async with dashboard_connect(clinic, nurse) as after:
        assert (await next_of(after, "snapshot"))["observations"] == []
    assert (await nurse.get(f"/api/sessions/{session_id}/observations")).json() == [made]


async def alert_states(client: httpx.AsyncClient, session_id: int) -> dict[str, str]:
    alerts = (await client.get("/api/alerts", params={"session_id": session_id})).json()
    return {a["rule"]: a["state"] for a in alerts}


async def until_state(client: httpx.AsyncClient, session_id: int, rule: str, state: str) -> None:
    for _ in range(100):
        if (await alert_states(client, session_id)).get(rule) == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{rule} never {state}: {await alert_states(client, session_id)}")


async def test_sedation_scores_and_depressed_breathing_raise_alerts_live(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 7")
    session_id = await start_session(nurse, chair_id)
    async with dashboard_connect(clinic, nurse) as screen:
        await next_of(screen, "snapshot")
        made = (await observe(nurse, session_id, moaas=2)).json()
        moderate = (await next_of(screen, "alert"))["alert"]
        assert (moderate["rule"], moderate["priority"], moderate["kind"]) == (
            "sedation_moderate",
            "medium",
            "physiological",
        )
        assert moderate["measured_at"] == made["at"]  # raised by what was observed then
        assert (await observe(nurse, session_id, moaas=1)).status_code == 201
        deep = (await next_of(screen, "alert"))["alert"]
    assert (deep["rule"], deep["priority"], deep["state"]) == ("sedation_deep", "high", "active")
    await until_state(nurse, session_id, "sedation_moderate", "resolved")  # superseded
    # Awake again: the high alert stays until a clinician has seen it.
    assert (await observe(nurse, session_id, moaas=5)).status_code == 201
    await asyncio.sleep(0.5)
    assert (await alert_states(nurse, session_id))["sedation_deep"] == "active"
    assert (await clinician.post(f"/api/alerts/{deep['id']}/ack", json={})).status_code == 200
    await until_state(nurse, session_id, "sedation_deep", "resolved")

    assert (await observe(nurse, session_id, respiratory="depressed")).status_code == 201
    breathing = await wait_for_alert(nurse, session_id, "respiratory_depressed")
    assert (breathing["priority"], breathing["state"]) == ("high", "active")
    # Dissociation alone raises nothing: it is expected, and recorded.
    assert (await observe(nurse, session_id, dissociation="severe")).status_code == 201
    await asyncio.sleep(0.5)
    assert set(await alert_states(nurse, session_id)) == {
        "sedation_moderate",
        "sedation_deep",
        "respiratory_depressed",
    }


async def test_the_export_of_a_session_with_observations_replays_offline_as_it_ran(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 8")
    session_id = await start_session(nurse, chair_id)
    assert (await observe(nurse, session_id, moaas=2)).status_code == 201
    await wait_for_alert(nurse, session_id, "sedation_moderate")
    assert (await observe(nurse, session_id, moaas=0)).status_code == 201
    deep = await wait_for_alert(nurse, session_id, "sedation_deep")
    assert (await observe(nurse, session_id, moaas=5)).status_code == 201
    assert (await clinician.post(f"/api/alerts/{deep['id']}/ack", json={})).status_code == 200
    await until_state(nurse, session_id, "sedation_deep", "resolved")
    assert (await nurse.post(f"/api/sessions/{session_id}/end")).status_code == 200
    record = (await nurse.get(f"/api/sessions/{session_id}/export")).json()
    live = sorted(
        (h["t_s"], h["event"], alert["rule"])
        for alert in record["alerts"]
        for h in alert["history"]
        if alert["rule"].startswith("sedation")
    )
    offline = [
        (e["t_s"], e["event"], e["rule"])
        for e in replay_export(record)
        if e["rule"].startswith("sedation")
    ]
    assert [(event, rule) for _, event, rule in offline] == [
        ("raised", "sedation_moderate"),
        ("raised", "sedation_deep"),
        ("superseded", "sedation_moderate"),
        ("acknowledged", "sedation_deep"),
        ("cleared", "sedation_deep"),
    ]
    # At the times the live engine gave them: each when its observation was entered.
    assert [(round(t, 2), e, r) for t, e, r in live] == [
        (round(t, 2), e, r) for t, e, r in sorted(offline)
    ]


async def test_an_observation_the_stored_engine_state_had_not_seen_counts_after_a_restart(
    clinic: Clinic,
) -> None:
    """The server stopped after the observation was stored, before its engine heard of it: the
    restored engine is fed it and raises what it would have raised."""
    server = LiveServer(clinic.settings).start()
    own = Clinic(server=server, settings=clinic.settings)
    try:
        nurse = await login(own, "nurse")
        _, _, chair_id = await own.add_device("Chair 9")
        session_id = await start_session(nurse, chair_id)
        await nurse.aclose()
    finally:
        server.stop()  # its engine state for the session is stored as it stops
    engine = create_engine(clinic.settings)
    db = create_sessionmaker(engine)
    async with engine.begin() as conn:
        nurse_id = await conn.scalar(select(User.id).where(User.name == "nurse"))
        now = datetime.now(UTC)
        await conn.execute(
            insert(Observation).values(
                session_id=session_id, chair_id=chair_id, at=now, moaas=0,
                user_id=nurse_id, recorded_at=now,
            )
        )  # fmt: skip
    hub = MemoryHub()
    await hub.start()
    runner = AlertRunner(db, hub, rules_source(clinic.settings), clock=time.time, tick_s=3600)
    await runner.start()
    try:
        async with db() as s:
            alerts = (await s.scalars(select(Alert).where(Alert.session_id == session_id))).all()
        assert [(a.rule, a.priority, a.state) for a in alerts] == [
            ("sedation_deep", "high", "active")
        ]
    finally:
        await runner.stop()
        await hub.stop()
        await engine.dispose()
