"""``/ws/dashboard``: login cookie, Origin check, snapshot, live readings, resume after a gap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import websockets

from tests.support import Clinic, Device, device_connect, one_database_is_enough


def dashboard_connect(
    clinic: Clinic,
    client: Any,
    since: int | None = None,
    origin: str | None = None,
    max_queue: int | None = 16,
):
    """A screen logged in as ``client``. ``max_queue`` is how many frames websockets holds
    unread before it stops reading the socket (its default, 16); a screen that leaves more than
    that unread and stops reading also cannot read the server's answer to its close, and waits
    out websockets' close timeout (10 s)."""
    cookie = f"chairside_login={client.cookies.get('chairside_login')}"
    url = f"{clinic.server.ws_url}/ws/dashboard" + (f"?since={since}" if since is not None else "")
    return websockets.connect(
        url, additional_headers={"Cookie": cookie}, origin=origin, max_queue=max_queue
    )


async def next_of(conn: Any, kind: str, timeout: float = 5) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        while True:
            message = orjson.loads(await conn.recv())
            if message["type"] == kind:
                return message

    return await asyncio.wait_for(find(), timeout)


def now() -> str:
    return datetime.now(UTC).isoformat()


async def test_snapshot_then_each_new_reading_as_it_is_stored(clinic: Clinic, nurse) -> None:
    token, _, chair_id = await clinic.add_device("Chair 3")
    async with dashboard_connect(clinic, nurse) as screen:
        snapshot = await next_of(screen, "snapshot")
        assert [c["name"] for c in snapshot["chairs"]] == ["Chair 3"]
        assert snapshot["user"] == {"name": "nurse", "role": "nurse"}
        async with device_connect(clinic.server, token) as conn:
            await Device(conn).reading(seq=1, ts=now(), sbp=141, dbp=92, map=108)
        batch = await next_of(screen, "readings")
    [live] = batch["readings"]
    assert (live["chair_id"], live["sbp"], live["dbp"], live["map"]) == (chair_id, 141, 92, 108)


@one_database_is_enough
async def test_heartbeat_arrives_when_nothing_else_does(clinic: Clinic, nurse) -> None:
    async with dashboard_connect(clinic, nurse) as screen:
        await next_of(screen, "snapshot")
        beat = await next_of(screen, "heartbeat", timeout=clinic.settings.heartbeat_s + 3)
    assert beat["server_time"].endswith("Z")


async def test_reconnect_with_since_gets_the_readings_it_missed(clinic: Clinic, nurse) -> None:
    token, _, _ = await clinic.add_device()
    async with dashboard_connect(clinic, nurse) as screen:
        last_seen = (await next_of(screen, "snapshot"))["last_reading_id"]
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        for seq in range(5):
            await device.reading(seq=seq, ts=now(), hr=70 + seq)
    async with dashboard_connect(clinic, nurse, since=last_seen) as screen:
        await next_of(screen, "snapshot")
        missed = await next_of(screen, "readings")
    assert [r["hr"] for r in missed["readings"]] == [70, 71, 72, 73, 74]


async def test_dashboard_refuses_no_login_and_a_foreign_origin(clinic: Clinic, nurse) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"{clinic.server.ws_url}/ws/dashboard"):
            pass
    with pytest.raises(websockets.InvalidStatus):
        async with dashboard_connect(clinic, nurse, origin="http://evil.example"):
            pass
    async with dashboard_connect(clinic, nurse, origin=clinic.server.url) as screen:
        assert (await next_of(screen, "snapshot"))["type"] == "snapshot"


async def test_session_changes_reach_the_screen(clinic: Clinic, nurse) -> None:
    _, _, chair_id = await clinic.add_device()
    async with dashboard_connect(clinic, nurse) as screen:
        await next_of(screen, "snapshot")
        await nurse.post(
            "/api/sessions",
            json={"chair_id": chair_id, "protocol": "iv-ketamine", "patient_label": "Q7"},
        )
        message = await next_of(screen, "session")
    assert message["session"]["patient_label"] == "Q7"
