"""Several server processes behind one Redis: every screen sees every reading and alert, exactly
one worker runs the alert engine, acknowledgements work through any worker, and when the
engine's worker dies another takes over."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.conftest import login
from tests.support import Clinic, Device, LiveServer, device_connect, free_port
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


async def test_every_worker_lists_the_same_unbound_hl7_sources_and_a_bind_clears_them_all(
    clinic: Clinic,
) -> None:
    """Each worker's HL7 listener hears its own gateways (the kernel spreads connections);
    the admin's list, answered by any worker, holds them all, and a bind through one worker
    clears it everywhere."""
    shared = {"redis_url": REDIS_URL, "redis_prefix": f"chairside-test-{uuid.uuid4().hex[:8]}:"}
    servers = [
        LiveServer(clinic.settings.model_copy(update={**shared, "hl7_port": free_port()})).start()
        for _ in range(2)
    ]
    try:
        on = [Clinic(server=s, settings=s.settings) for s in servers]
        admins = [await login(c, "admin") for c in on]
        now = datetime.now(UTC)
        sources = ("02C5AAAA00000001", "02C5AAAA00000002")
        for server, source in zip(servers, sources, strict=True):
            answer = await mllp_exchange(server.settings.hl7_port, oru_from(source, now))
            assert b"MSA|AR|" in answer
        for admin in admins:
            listed = await until_listed(admin, 2)
            assert sorted(s["identifiers"][0]["value"] for s in listed) == sorted(sources)
        bound = await admins[1].post(
            "/api/devices", json={"chair": "Chair H", "hl7_source": sources[0]}
        )
        assert bound.status_code == 201, bound.text
        for admin in admins:
            left = await until_listed(admin, 1)
            assert [s["identifiers"][0]["value"] for s in left] == [sources[1]]
        # The source bound through the second worker is taken by the first one's listener.
        answer = await mllp_exchange(servers[0].settings.hl7_port, oru_from(sources[0], now))
        assert b"MSA|AA|" in answer
        for admin in admins:
            await admin.aclose()
    finally:
        for server in servers:
            server.stop()


def oru_from(source: str, at: datetime) -> bytes:
    stamp = at.strftime("%Y%m%d%H%M%S+0000")
    return (
        f"MSH|^~\\&|Gateway^{source}^EUI-64||||{stamp}||ORU^R01^ORU_R01|{source}-1|P|2.6\r"
        f"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||{stamp}\r"
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        f"|||||R|||{stamp}\r"
    ).encode()


async def mllp_exchange(port: int | None, message: bytes) -> bytes:
    """One message over MLLP and its answer."""
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x0b" + message + b"\x1c\r")
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\x1c\r"), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def until_listed(admin: Any, count: int, within_s: float = 10.0) -> list[dict[str, Any]]:
    """The unbound list once it holds ``count`` sources (the workers tell each other)."""
    deadline = time.monotonic() + within_s
    while True:
        listed = (await admin.get("/api/hl7/unbound")).json()
        if len(listed) == count or time.monotonic() > deadline:
            assert len(listed) == count, listed
            return list(listed)
        await asyncio.sleep(0.1)
