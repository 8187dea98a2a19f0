"""Alarms out to a real Alert Manager over MLLP: a high BP through the ingest websocket reaches
it as an ORU^R40 (PH / SP / start), the clinician's acknowledgement as alert-acknowledged, and
its delivery status shows with the alert; when it goes silent every screen says forwarding is
unavailable, and the events raised meanwhile arrive, in order and once, when it answers again.

The Alert Manager is the test's own asyncio MLLP server; it checks each message's structure
field by field as an Alert Manager would before dispatching to a pager."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from app.settings import Settings
from tests.conftest import login
from tests.support import Clinic, Device, LiveServer, device_connect
from tests.test_alerts_live import start_session, wait_for_alert
from tests.test_dashboard_stream import dashboard_connect, next_of

START, END = b"\x0b", b"\x1c\x0d"
PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO"
FACET_ORDER = ["68480", "68481", "68482", "68483", "68484", "68485"]
PHASES = {
    "raised": "start",
    "escalated": "escalate",
    "acknowledged": "continue",
    "re-alarmed": "continue",
    "cleared": "end",
    "superseded": "end",
}


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class Alarm:
    filler: str
    facets: dict[str, str]
    pv1_bed: str
    pid: str
    value: tuple[str, str, str] | None
    control_id: str


@dataclass
class AlertManager:
    """An Alert Manager: confirms (CA) what it accepts, reports "Delivered" for each new alarm,
    or, silent, reads and answers nothing."""

    silent: bool = False
    alarms: list[Alarm] = field(default_factory=list)
    watchdogs: int = 0
    problems: list[str] = field(default_factory=list)
    status_acks: list[str] = field(default_factory=list)
    got_alarm: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                block = await reader.readuntil(END)
                if not block.startswith(START):
                    self.problems.append(f"frame without the MLLP start byte: {block[:20]!r}")
                    continue
                text = block[1:-2].decode()
                if self.silent:
                    continue
                rows = [line.split("|") for line in text.split("\r") if line]
                msh = rows[0]
                if msh[8].startswith("ACK"):
                    msa = next(r for r in rows if r[0] == "MSA")
                    self.status_acks.append(f"{msa[1]}:{msa[2]}")
                    continue
                alarm = self.check(rows)
                writer.write(START + ack(msh[9]).encode() + END)
                if alarm is not None:
                    self.alarms.append(alarm)
                    self.got_alarm.set()
                    if alarm.facets["68481"] == "start":
                        writer.write(START + delivered(alarm.filler).encode() + END)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def check(self, rows: list[list[str]]) -> Alarm | None:
        """The ORU^R40's structure; None for the watchdog."""
        msh = rows[0]
        names = [r[0] for r in rows]

        def expect(what: str, got: object, wanted: object) -> None:
            if got != wanted:
                self.problems.append(f"{what}: {got!r}, expected {wanted!r}")

        expect("MSH-9", msh[8], "ORU^R40^ORU_R40")
        expect("MSH-12", msh[11], "2.6")
        expect("MSH-15/16", (msh[14], msh[15]), ("AL", "NE"))
        expect("MSH-21", msh[20], PROFILE)
        expect("segments", [n for n in names if n != "OBX"][-2:], ["PV1", "OBR"])
        obr = next(r for r in rows if r[0] == "OBR")
        expect("OBR-4", obr[4], "196616^MDC_EVT_ALARM^MDC")
        filler = obr[3].split("^")[0]
        expect("OBR-29", obr[29], "^" + obr[3].replace("^", "&"))
        obx = [r for r in rows if r[0] == "OBX"]
        expect("OBX-1", [r[1] for r in obx], [str(i + 1) for i in range(len(obx))])
        expect("MDS row", (obx[0][2], obx[0][11]), ("", "X"))
        codes = [r[3].split("^")[0] for r in obx]
        expect("facet order", codes[2:8], FACET_ORDER)
        subs = [r[4] for r in obx]
        expect("OBX-4 unique", len(set(subs)), len(subs))
        facets = {r[3].split("^")[0]: r[5] for r in obx}
        if filler == "watchdog":
            self.watchdogs += 1
            expect("watchdog priority", facets["68484"], "PN")
            expect("confirm timeout", facets.get("67860"), "1")
            return None
        expect("OBR-3", filler.startswith("chairside-"), True)
        expect("identification", codes[1], "196616")
        expect("equipment", all(r[18] for r in obx), True)
        value_rows = [r for r in obx[8:] if r[2] == "NM"]
        value = (codes[8], value_rows[0][5], value_rows[0][6]) if value_rows else None
        pv1 = next(r for r in rows if r[0] == "PV1")
        pid = next((r for r in rows if r[0] == "PID"), ["PID", "", "", ""])
        return Alarm(filler, facets, pv1[3].split("^")[2], pid[3], value, msh[9])


def ack(control_id: str) -> str:
    return f"MSH|^~\\&|AM||CHAIRSIDE||20261202||ACK^R40^ACK|a-{control_id}|P|2.6\rMSA|CA|{control_id}\r"


def delivered(filler: str) -> str:
    return (
        f"MSH|^~\\&|AM|||CHAIRSIDE|20261202||ORA^R41^ORA_R41|st-{filler}||2.7\r"
        f"OBR|||{filler}^CHAIRSIDE\rPRT|||Delivered\r"
    )


async def wait_until(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def next_forwarding(screen, state: str, timeout: float = 15.0) -> dict:  # type: ignore[no-untyped-def]
    async def find() -> dict:
        while True:
            message = await next_of(screen, "forwarding", timeout)
            if message["state"] == state:
                return message

    return await asyncio.wait_for(find(), timeout)


async def listening_alert_manager(clinic: Clinic) -> tuple[AlertManager, asyncio.Server, Settings]:
    """An Alert Manager of the test's own on a free port, and the clinic's settings pointing at
    it with 1 s watchdog and confirm timeouts (so silence shows within seconds)."""
    am = AlertManager()
    am_server = await asyncio.start_server(am.handle, "127.0.0.1", 0)
    am_port = am_server.sockets[0].getsockname()[1]
    settings = clinic.settings.model_copy(
        update={
            "alert_manager": f"127.0.0.1:{am_port}",
            "alert_manager_watchdog_s": 1,
            "alert_manager_confirm_s": 1,
        }
    )
    return am, am_server, settings


async def test_alerts_reach_the_alert_manager_in_order_and_a_silent_one_shows_on_screens(
    clinic: Clinic,
) -> None:
    am, am_server, settings = await listening_alert_manager(clinic)
    am_port = am_server.sockets[0].getsockname()[1]
    server = LiveServer(settings).start()
    own = Clinic(server=server, settings=settings)
    nurse: httpx.AsyncClient | None = None
    clinician: httpx.AsyncClient | None = None
    try:
        nurse = await login(own, "nurse")
        clinician = await login(own, "clinician")
        token, _, chair_id = await own.add_device("Chair 2")
        start = datetime.now(UTC) - timedelta(minutes=20)
        session_id = await start_session(nurse, chair_id)
        await wait_until(lambda: _true(am.watchdogs > 0))
        async with dashboard_connect(own, nurse) as screen:
            snapshot = await next_of(screen, "snapshot")
            assert snapshot["forwarding"]["state"] in ("ok", "connecting")
            async with device_connect(server, token) as conn:
                device = Device(conn)
                await device.reading(seq=1, ts=iso(start), sbp=128, dbp=80, map=96, hr=72, spo2=98)
                assert (await nurse.post(f"/api/sessions/{session_id}/dose")).status_code == 200
                now = datetime.now(UTC)
                await device.reading(seq=2, ts=iso(now), sbp=186, dbp=104, map=131)
                stored = await wait_for_alert(nurse, session_id, "sbp_critical")
                filler = f"chairside-{session_id}-{stored['alert_no']}"

                # Raised: PH / SP / start, the chair as bed, the label as patient, the value.
                await wait_until(lambda: _true(any(a.filler == filler for a in am.alarms)))
                first = next(a for a in am.alarms if a.filler == filler)
                assert [first.facets[c] for c in FACET_ORDER[1:]] == [
                    "start",
                    "active",
                    "enabled",
                    "PH",
                    "SP",
                ]
                assert first.pv1_bed == "Chair 2"
                assert first.pid.split("^")[0] == "RB"
                assert first.value == ("150021", "186", "266016^MDC_DIM_MMHG^MDC")

                # The Alert Manager's "Delivered" is stored with the alert; Chairside ACKs it.
                async def delivered_shown() -> bool:
                    rows = await nurse.get("/api/alerts", params={"session_id": session_id})
                    alert = next(a for a in rows.json() if a["id"] == stored["id"])
                    return alert["forward_status"] == "Delivered"

                await wait_until(delivered_shown)
                alerts = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
                shown = next(a for a in alerts if a["id"] == stored["id"])
                assert shown["forward_status_at"] is not None
                assert f"AA:st-{filler}" in am.status_acks

                # The clinician's acknowledgement: same alarm, inactivation alert-acknowledged.
                acked = await clinician.post(f"/api/alerts/{stored['id']}/ack", json={})
                assert acked.status_code == 200, acked.text
                await wait_until(
                    lambda: _true(
                        any(
                            a.filler == filler and a.facets["68483"] == "alert-acknowledged"
                            for a in am.alarms
                        )
                    )
                )
                ack_msg = next(a for a in am.alarms if a.facets["68483"] == "alert-acknowledged")
                assert (ack_msg.facets["68481"], ack_msg.facets["68482"]) == ("continue", "active")

                # Silent: every screen is told, and what is raised meanwhile waits.
                before = len(am.alarms)
                am.silent = True
                down = await next_forwarding(screen, "unavailable")
                assert str(am_port) in down["detail"]
                await device.reading(seq=3, ts=iso(datetime.now(UTC)), sbp=75, dbp=48, map=57)
                low_alert = await wait_for_alert(nurse, session_id, "sbp_critical_low")
                await asyncio.sleep(1.5)
                assert len(am.alarms) == before
                am.silent = False
                await next_forwarding(screen, "ok", timeout=30)
                await wait_until(lambda: _true(len(am.alarms) > before))

            # Everything the engine recorded reached it once, each alarm's events in order,
            # and what was raised while it was silent after what it had confirmed before.
            async def all_arrived() -> bool:
                return received(am) == await history(nurse, session_id)

            with contextlib.suppress(AssertionError):
                await wait_until(all_arrived, timeout=10)
            assert received(am) == await history(nurse, session_id)
            assert len({a.control_id for a in am.alarms}) == len(am.alarms)
            low = f"chairside-{session_id}-{low_alert['alert_no']}"
            assert [a.filler for a in am.alarms].index(low) >= before
        assert am.problems == []
    finally:
        for client in (nurse, clinician):
            if client is not None:
                await client.aclose()
        server.stop()
        am_server.close()
        await am_server.wait_closed()


async def test_an_alert_manager_that_takes_nothing_loses_the_oldest_events_and_screens_say_so(
    clinic: Clinic,
) -> None:
    am = AlertManager(silent=True)
    am_server = await asyncio.start_server(am.handle, "127.0.0.1", 0)
    settings = clinic.settings.model_copy(
        update={
            "alert_manager": f"127.0.0.1:{am_server.sockets[0].getsockname()[1]}",
            "alert_manager_watchdog_s": 1,
            "alert_manager_confirm_s": 1,
            "alert_manager_queue": 1,
        }
    )
    server = LiveServer(settings).start()
    own = Clinic(server=server, settings=settings)
    nurse = await login(own, "nurse")
    clinician = await login(own, "clinician")
    try:
        token, _, chair_id = await own.add_device("Chair 4")
        session_id = await start_session(nurse, chair_id)
        async with dashboard_connect(own, nurse) as screen:
            await next_of(screen, "snapshot")
            await next_forwarding(screen, "unavailable")
            async with device_connect(server, token) as conn:
                device = Device(conn)
                await device.reading(seq=1, ts=iso(datetime.now(UTC)), sbp=186, dbp=96, map=126)
            stored = await wait_for_alert(nurse, session_id, "sbp_critical")
            acked = await clinician.post(f"/api/alerts/{stored['id']}/ack", json={})
            assert acked.status_code == 200, acked.text

            async def dropped() -> dict:
                while True:
                    message = await next_forwarding(screen, "unavailable")
                    if "1 alert event(s) dropped, not forwarded" in message["detail"]:
                        return message

            await asyncio.wait_for(dropped(), 15)
            am.silent = False
            await next_forwarding(screen, "ok", timeout=30)
            await wait_until(lambda: _true(len(am.alarms) >= 1))
        await asyncio.sleep(0.5)
        # The bound kept the newest: the acknowledgement, not the raise before it.
        filler = f"chairside-{session_id}-{stored['alert_no']}"
        assert [(a.filler, a.facets["68483"]) for a in am.alarms] == [
            (filler, "alert-acknowledged")
        ]
        assert am.problems == []
    finally:
        await nurse.aclose()
        await clinician.aclose()
        server.stop()
        am_server.close()
        await am_server.wait_closed()


async def _true(value: bool) -> bool:
    return value


def received(am: AlertManager) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for alarm in am.alarms:
        out.setdefault(alarm.filler, []).append(alarm.facets["68481"])
    return out


async def history(client: httpx.AsyncClient, session_id: int) -> dict[str, list[str]]:
    """Each alert's events as the engine stored them, as the AM should get them: the alarm's
    identity and its phases in order."""
    alerts = (await client.get("/api/alerts", params={"session_id": session_id})).json()
    out: dict[str, list[str]] = {}
    for alert in alerts:
        filler = f"chairside-{session_id}-{alert['alert_no']}"
        for item in (await client.get(f"/api/alerts/{alert['id']}/history")).json():
            out.setdefault(filler, []).append(PHASES[item["event"]])
    return out
