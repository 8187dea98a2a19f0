"""Several server processes behind one Redis: every screen sees every reading and alert, exactly
one worker runs the alert engine, acknowledgements work through any worker, and when the
engine's worker dies another takes over."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from tests.conftest import login
from tests.support import Clinic, Device, LiveServer, device_connect
from tests.test_dashboard_stream import dashboard_connect, next_of
from tests.test_hub import REDIS_URL

LEASE_TTL_S = 6.0


def leader_of(servers: list[LiveServer]) -> list[LiveServer]:
    return [s for s in servers if s.app.state.alert_runner.leading]


async def wait_for_one_leader(servers: list[LiveServer], within_s: float = 15) -> LiveServer:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        leaders = leader_of(servers)
        if len(leaders) == 1:
            return leaders[0]
        assert len(leaders) <= 1, "two workers run the alert engine at once"
        await asyncio.sleep(0.2)
    raise AssertionError("no worker took the alert engine")


async def test_two_workers_share_alerting_through_redis(clinic: Clinic) -> None:
    settings = clinic.settings.model_copy(
        update={"redis_url": REDIS_URL, "redis_prefix": f"chairside-test-{uuid.uuid4().hex[:8]}:"}
    )
    servers = [LiveServer(settings).start(), LiveServer(settings).start()]
    try:
        leader = await wait_for_one_leader(servers)
        follower = next(s for s in servers if s is not leader)
        on = {s: Clinic(server=s, settings=settings) for s in servers}
        nurse = await login(on[leader], "nurse")
        clinician = await login(on[follower], "clinician")
        token, _, chair_id = await clinic.add_device("Chair W")
        created = await nurse.post(
            "/api/sessions",
            json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "W1"},
        )
        assert created.status_code == 201
        session_id = created.json()["id"]
        async with dashboard_connect(on[leader], nurse) as screen:
            await next_of(screen, "snapshot")
            # The monitor talks to the worker that does not run the engine.
            async with device_connect(follower, token) as conn:
                now = datetime.now(UTC).isoformat()
                reply = await Device(conn).reading(seq=1, ts=now, sbp=188, dbp=98, map=128)
                assert reply["type"] == "ack"
                assert (await next_of(screen, "readings"))["readings"][0]["sbp"] == 188
                alert = (await next_of(screen, "alert"))["alert"]
        assert alert["rule"] == "sbp_critical"
        rows = await clinic.query(
            "SELECT count(*) AS n FROM alert WHERE session_id = :s", s=session_id
        )
        assert rows[0].n == 1
        # Acknowledged through the worker that does not run the engine.
        acked = await clinician.post(f"/api/alerts/{alert['id']}/ack", json={"note": "cuff ok"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == "clinician"
        await nurse.aclose()
        await clinician.aclose()

        # The engine's worker goes away: the other takes over and keeps alerting.
        leader.stop()
        taken = await wait_for_one_leader([follower], within_s=LEASE_TTL_S + 10)
        assert taken is follower
        async with device_connect(follower, token) as conn:
            now = datetime.now(UTC).isoformat()
            await Device(conn).reading(seq=2, ts=now, sbp=150, dbp=114, map=126)
        for _ in range(50):
            rules = await clinic.query("SELECT rule FROM alert WHERE session_id = :s", s=session_id)
            if {"dbp_critical"} <= {r.rule for r in rules}:
                break
            await asyncio.sleep(0.1)
        assert sorted(r.rule for r in rules) == ["dbp_critical", "sbp_critical"]
    finally:
        for server in servers:
            server.stop()
