"""HL7 PCD-01 over MLLP into a live server, on SQLite and PostgreSQL: the third-party samples
sent with python-hl7's MLLP client and their ACKs read with its parser, field by field; the
readings through the REST API; resends stored once; wrong content answered AE naming the row;
an unbound source answered AR, listed for the admin and bound in one call; a message that is
not an ORU, broken framing, an oversize message and a silent peer answered or closed, with the
listener serving the next connection; the dashboard sees the monitor come and go, and the alert
engine alarms on what it sent."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp
import httpx
import pytest

from app.interop.hl7_message import parse_dtm
from simulators.clinic import plan_chair, run_clinic
from simulators.hl7_monitor import hl7_time, simulated_eui64
from tests.support import (
    PASSWORD,
    Clinic,
    LiveServer,
    free_port,
    one_database_is_enough,
    run_chairside,
    wipe,
)
from tests.test_dashboard_stream import dashboard_connect, next_of

HL7_DATA = Path(__file__).resolve().parent / "data" / "hl7"
EUI64 = "0123456789ABCDEF"  # OBX-18 of the NIBP and oximeter samples
BED = "3 WEST ICU^3001^1"  # PV1-3 of the gateway sample


def sample(name: str) -> bytes:
    return (HL7_DATA / name).read_bytes()


def fresh(raw: bytes, at: datetime, zone: str | None = None) -> bytes:
    """The sample with every time moved to ``at`` (its precision and offset kept; ``zone``
    added where it has none): the samples are from 2008-2009, older than the ingest takes."""

    def moved(match: re.Match[bytes]) -> bytes:
        offset = match.group(2) or (zone or "").encode()
        sign = -1 if offset.startswith(b"-") else 1
        shift = (
            timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * sign
            if offset
            else timedelta()
        )
        return (at.astimezone(UTC) + shift).strftime("%Y%m%d%H%M%S").encode() + offset

    return re.sub(rb"(?<=[|^])(\d{14})([+-]\d{4})?(?=[|^\r\n])", moved, raw)


@pytest.fixture(scope="module")
def hl7_server(database: Any) -> Iterator[LiveServer]:
    settings = database.model_copy(
        update={"hl7_port": free_port(), "hl7_idle_timeout_s": 3.0, "hl7_frame_timeout_s": 1.0}
    )
    server = LiveServer(settings).start()
    yield server
    server.stop()


@pytest.fixture
async def site(hl7_server: LiveServer) -> AsyncIterator[Clinic]:
    await wipe(hl7_server.settings)
    hl7_server.forget_clinic()
    # What the listener held of the wiped clinic (PostgreSQL does not reuse the ids).
    hl7_server.app.state.hl7_unbound.clear()
    hl7_server.app.state.hl7_listener.forget_bindings()
    clinic = Clinic(server=hl7_server, settings=hl7_server.settings)
    await clinic.add_users(("admin", "admin"), ("nurse", "nurse"))
    yield clinic


async def login(clinic: Clinic, name: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=clinic.server.url, timeout=10)
    response = await client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


class Monitor:
    """A monitor gateway: python-hl7's MLLP client, one message and its ACK at a time."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, raw: bytes) -> Any:
        self.writer.writeblock(raw)
        await self.writer.drain()
        return await asyncio.wait_for(self.reader.readmessage(), 10)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def connect(clinic: Clinic) -> Monitor:
    port = clinic.settings.hl7_port
    reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", port)
    return Monitor(reader, writer)


def fields(ack: Any) -> dict[str, str]:
    msh, msa = ack.segment("MSH"), ack.segment("MSA")
    return {
        "MSH-9": str(msh[9]),
        "MSA-1": str(msa[1]),
        "MSA-2": str(msa[2]),
        "MSA-3": ack.unescape(str(msa[3])) if len(msa) > 3 else "",
    }


def errs(ack: Any) -> list[tuple[str, str, str]]:
    """Each ERR's location (ERR-2), HL7 table 0357 code (ERR-3.1) and detail (ERR-8)."""
    found = []
    for segment in ack.segments("ERR") if "ERR" in str(ack) else []:
        detail = ack.unescape(str(segment[8])) if len(segment) > 8 else ""
        found.append((str(segment[2]), str(segment[3][0][0]), detail))
    return found


async def open_session(nurse: httpx.AsyncClient, chair_id: int, clock: str = "wall") -> int:
    created = await nurse.post(
        "/api/sessions",
        json={
            "chair_id": chair_id,
            "protocol": "spravato",
            "patient_label": "HL",
            "engine_clock": clock,
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def bind(admin: httpx.AsyncClient, chair: str, source: str) -> dict[str, Any]:
    registered = await admin.post("/api/devices", json={"chair": chair, "hl7_source": source})
    assert registered.status_code == 201, registered.text
    body: dict[str, Any] = registered.json()
    assert body["hl7_source"] == source
    return body


async def test_samples_are_acknowledged_after_commit_stored_once_and_shown_live(
    site: Clinic,
) -> None:
    admin, nurse = await login(site, "admin"), await login(site, "nurse")
    device = await bind(admin, "Chair 3", EUI64)
    session_id = await open_session(nurse, device["chair_id"], clock="readings")
    nibp = sample("valid-pcd01-request.hl7v2")
    async with dashboard_connect(site, nurse) as screen:
        await next_of(screen, "snapshot")
        monitor = await connect(site)
        # As the file is (CRLF, 2009): refused for its age, naming the row and the limit.
        old = await monitor.send(nibp)
        assert fields(old)["MSH-9"] == "ACK^R01^ACK"
        assert (fields(old)["MSA-1"], fields(old)["MSA-2"]) == ("AE", "MSGID1234")
        [(where, code, detail)] = errs(old)
        assert (where, code) == ("OBX^6^14", "102")
        assert "OBX-3 (150021), OBX-4 (150022), OBX-5 (150023)" in detail
        assert "the limit is 14 days" in detail
        connected = await next_of(screen, "connected")
        assert connected["device_id"] == device["id"]

        now = datetime.now(UTC).replace(microsecond=0)
        taken = await monitor.send(fresh(nibp, now - timedelta(seconds=12)))
        assert fields(taken) == {
            "MSH-9": "ACK^R01^ACK",
            "MSA-1": "AA",
            "MSA-2": "MSGID1234",
            "MSA-3": "",
        }
        assert errs(taken) == []
        # Acknowledged after the commit: the reading is there when the ACK is.
        readings = (await nurse.get(f"/api/sessions/{session_id}/readings")).json()
        assert [(r["sbp"], r["dbp"], r["map"]) for r in readings] == [(120, 80, 100)]
        streamed = await next_of(screen, "readings")
        assert streamed["readings"][0]["sbp"] == 120

        again = await monitor.send(fresh(nibp, now - timedelta(seconds=12)))
        assert (fields(again)["MSA-1"], fields(again)["MSA-2"]) == ("AA", "MSGID1234")
        # The oximeter's message reuses the id MSGID1234 with its own time: a new reading.
        oximeter = sample("valid-oximeter-continua-wan.hl7v2").replace(b"\r\n", b"\r")
        spo2 = await monitor.send(fresh(oximeter, now - timedelta(seconds=12)))
        assert fields(spo2)["MSA-1"] == "AA"
        later = fresh(oximeter, now).replace(b"MSGID1234", b"MSGID1235")
        assert fields(await monitor.send(later))["MSA-2"] == "MSGID1235"
        await monitor.close()
        gone = await next_of(screen, "disconnected")
        assert gone["device_id"] == device["id"]

    readings = (await nurse.get(f"/api/sessions/{session_id}/readings")).json()
    assert [(r["sbp"], r["spo2"]) for r in readings] == [(120, None), (None, 80.5), (None, 80.5)]
    assert {r["device_id"] for r in readings} == {device["id"]}
    # SpO2 80.5 % for 12 s on the readings' clock: the engine raises its desaturation alarm.
    for _ in range(50):
        alerts = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
        if "spo2_critical" in {a["rule"] for a in alerts}:
            break
        await asyncio.sleep(0.1)
    assert "spo2_critical" in {a["rule"] for a in alerts}
    listed = (await admin.get("/api/devices")).json()
    assert [d["last_seen_at"] is not None for d in listed] == [True]
    await admin.aclose()
    await nurse.aclose()


async def test_an_unbound_source_is_refused_listed_and_bound_in_one_call(site: Clinic) -> None:
    admin, nurse = await login(site, "admin"), await login(site, "nurse")
    gateway = sample("valid-pcd01-request2.hl7v2")
    monitor = await connect(site)
    # Its times have no offset and the server has no CHAIRSIDE_HL7_ZONE: AE naming MSH-7.
    zoneless = await monitor.send(fresh(gateway, datetime.now(UTC)))
    assert (fields(zoneless)["MSA-1"], fields(zoneless)["MSA-2"]) == (
        "AE",
        "12d15a9:11df9e61347:-7fee:30456965",
    )
    assert "MSH-7" in fields(zoneless)["MSA-3"]

    message = fresh(gateway, datetime.now(UTC), zone="+0000")
    refused = await monitor.send(message)
    assert fields(refused)["MSA-1"] == "AR"
    assert fields(refused)["MSA-2"] == "12d15a9:11df9e61347:-7fee:30456965"
    [(where, code, detail)] = errs(refused)
    assert (where, code) == ("MSH^1^3", "204")
    assert "MSH-3 080019FFFF4F6AC0" in detail and f"PV1-3 {BED}" in detail
    assert (await site.query("SELECT count(*) FROM reading"))[0][0] == 0

    [unbound] = (await admin.get("/api/hl7/unbound")).json()
    assert unbound["identifiers"] == [
        {"kind": "MSH-3", "value": "080019FFFF4F6AC0"},
        {"kind": "PV1-3", "value": BED},
    ]
    assert unbound["messages"] == 1
    assert (await nurse.get("/api/hl7/unbound")).status_code == 403

    device = await bind(admin, "Bed 3001", BED)
    assert (await admin.get("/api/hl7/unbound")).json() == []
    # The same message again: now it belongs to the bed's monitor. ECG HR 60 is stored; the
    # invasive arterial pressures (150033-150035) are not taken for NIBP.
    accepted = await monitor.send(message)
    assert fields(accepted)["MSA-1"] == "AA"
    rows = await site.query("SELECT device_id, hr, sbp, dbp, map FROM reading")
    assert [tuple(r) for r in rows] == [(device["id"], 60, None, None, None)]
    taken_twice = await admin.post("/api/devices", json={"chair": "Chair 9", "hl7_source": BED})
    assert taken_twice.status_code == 409
    assert BED in taken_twice.json()["detail"]
    await monitor.close()
    await admin.aclose()
    await nurse.aclose()


async def test_a_value_out_of_range_is_named_and_the_rest_is_stored(site: Clinic) -> None:
    admin, nurse = await login(site, "admin"), await login(site, "nurse")
    device = await bind(admin, "Chair 1", "00AABBCCDDEEFF01")
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    message = "\r".join(
        [
            f"MSH|^~\\&|GW^00AABBCCDDEEFF01^EUI-64||||{stamp}||ORU^R01^ORU_R01|R1|P|2.6|||NE|AL",
            f"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||{stamp}",
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1|180|262688^MDC_DIM_PERCENT^MDC|||||R",
            "OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2|72|/min^/min^UCUM|||||R",
            "OBX|3|NM|151708^MDC_AWAY_CO2_ET^MDC|1.3|38|mmol^mmol^UCUM|||||R",
        ]
    ).encode()
    monitor = await connect(site)
    answer = await monitor.send(message)
    assert (fields(answer)["MSA-1"], fields(answer)["MSA-2"]) == ("AE", "R1")
    assert errs(answer) == [
        ("OBX^5^6", "103", errs(answer)[0][2]),
        ("OBX^3^5", "102", "OBX-1 (150456): spo2 180 is outside the plausible range 0-100 %"),
    ]
    assert "OBX-3 (151708) unit 'mmol'" in errs(answer)[0][2]
    rows = await site.query("SELECT device_id, hr, spo2, etco2 FROM reading")
    assert [tuple(r) for r in rows] == [(device["id"], 72, None, None)]
    # Only what Chairside does not use (an arterial line): accepted, said, nothing stored.
    arterial = message.split(b"\rOBX")[0] + (
        b"\rOBX|1|NM|150033^MDC_PRESS_BLD_ART_SYS^MDC|1.3.1.2|120|mm[Hg]^mm[Hg]^UCUM|||||R"
    )
    noted = await monitor.send(arterial.replace(b"|R1|", b"|R2|"))
    assert (fields(noted)["MSA-1"], fields(noted)["MSA-2"]) == ("AA", "R2")
    assert "nothing stored" in fields(noted)["MSA-3"]
    assert [str(e[4]) for e in noted.segments("ERR")] == ["I"]
    assert len(await site.query("SELECT id FROM reading")) == 1
    await monitor.close()
    await admin.aclose()
    await nurse.aclose()


async def read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 5)  # to EOF: the server closed


async def test_bad_peers_are_answered_or_closed_and_the_listener_keeps_serving(
    site: Clinic,
) -> None:
    admin = await login(site, "admin")
    await bind(admin, "Chair 3", EUI64)
    port = site.settings.hl7_port
    monitor = await connect(site)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    adt = f"MSH|^~\\&|HIS||||{stamp}||ADT^A01^ADT_A01|A7|P|2.6\rPID|||p1\r".encode()
    answer = await monitor.send(adt)
    assert fields(answer) == {
        "MSH-9": "ACK^A01^ACK",
        "MSA-1": "AR",
        "MSA-2": "A7",
        "MSA-3": "MSH-9: ADT^A01 is not accepted here; send ORU^R01",
    }
    assert errs(answer)[0][:2] == ("MSH^1^9", "200")
    await monitor.close()

    # No start block: closed.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await read_all(reader) == b""
    writer.close()
    # Over the size limit (1 MiB): answered AR with its MSH-10, then closed.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    big = f"MSH|^~\\&|GW||||{stamp}||ORU^R01|BIG1|P|2.6\r".encode() + b"NTE|1||" + b"x" * 1100000
    writer.write(b"\x0b" + big + b"\x1c\r")
    with_ack = await read_all(reader)
    writer.close()
    ack = hl7.parse(with_ack.strip(b"\x0b\x1c\r").decode())
    assert (str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])) == ("AR", "BIG1")
    assert "limit" in str(ack.segment("MSA")[3])
    # A peer that starts a message and stalls (frame timeout 1 s here), one that says nothing
    # (idle timeout 3 s here): closed.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x0bMSH|^~\\&|GW")
    assert await read_all(reader) == b""
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await read_all(reader) == b""
    writer.close()

    # Still serving: a good message is taken.
    monitor = await connect(site)
    good = fresh(sample("valid-pcd01-request.hl7v2"), datetime.now(UTC))
    assert fields(await monitor.send(good))["MSA-1"] == "AA"
    await monitor.close()
    await admin.aclose()


async def test_the_command_line_binds_a_monitor_and_serves_hl7(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    env = {
        **os.environ,
        "CHAIRSIDE_DATABASE_URL": f"sqlite:///{database}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    assert run_chairside(env, "db", "upgrade").returncode == 0
    added = run_chairside(env, "device", "add", "--chair", "Chair 2", "--hl7-source", EUI64)
    assert added.returncode == 0, added.stderr
    assert f"its HL7 messages are those carrying '{EUI64}'" in added.stderr
    again = run_chairside(env, "device", "add", "--chair", "Chair 7", "--hl7-source", EUI64)
    assert again.returncode == 2
    assert f"HL7 source '{EUI64}' is already bound to device 1" in again.stderr

    http_port, hl7_port = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app.cli", "serve", "--port", str(http_port)),
        *("--hl7-port", str(hl7_port), "--log-level", "warning"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", hl7_port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the HL7 port did not open")
        monitor = Monitor(reader, writer)
        ack = await monitor.send(fresh(sample("valid-pcd01-request.hl7v2"), datetime.now(UTC)))
        assert (fields(ack)["MSA-1"], fields(ack)["MSA-2"]) == ("AA", "MSGID1234")
        await monitor.close()
    finally:
        server.terminate()
        _, stderr = await asyncio.wait_for(server.communicate(), 30)
    assert f"HL7 PCD-01 (MLLP) listening on 127.0.0.1:{hl7_port}" in stderr.decode()
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT device_id, sbp, dbp, map FROM reading").fetchall()
    assert rows == [(1, 120, 80, 100)]


# The simulator's two wire protocols are the subject: the writer's databases are tested elsewhere.
@one_database_is_enough
async def test_the_simulator_runs_some_chairs_over_hl7_and_the_rest_over_the_websocket(
    site: Clinic,
) -> None:
    port = site.settings.hl7_port
    assert port is not None
    report = await run_clinic(
        site.server.url,
        "admin",
        PASSWORD,
        2,
        3000.0,
        7,
        "typical",
        1800.0,
        progress=False,
        hl7=("127.0.0.1", port),
        hl7_chairs=1,
    )
    plan = plan_chair(1, 7, "typical", 1800.0)
    assert report.errors == 0
    assert report.chairs[0].monitor.acked == len(plan.readings)
    rows = await site.query(
        "SELECT r.sbp, r.dbp, r.map, r.hr, r.spo2 FROM reading r JOIN chair c ON c.id = r.chair_id"
        " WHERE c.name = 'Sim chair 1' ORDER BY r.measured_at, r.id"
    )
    stored = [tuple(None if v is None else round(v) for v in r) for r in rows]
    assert stored == [(p.sbp, p.dbp, p.map, p.hr, p.spo2) for p in plan.readings]
    # Chair 1's monitor was the HL7 one (bound to its EUI-64; freed when the run revoked it).
    revoked = await site.query("SELECT detail FROM audit_event WHERE action = 'device.revoke'")
    assert [str(r[0]).count(simulated_eui64(7, 1)) for r in revoked].count(1) == 1
    [(over_ws,)] = await site.query(
        "SELECT count(*) FROM reading r JOIN chair c ON c.id = r.chair_id"
        " WHERE c.name = 'Sim chair 2'"
    )
    assert over_ws == report.chairs[1].monitor.acked > 0


def test_the_simulated_gateway_stamps_readings_to_the_millisecond() -> None:
    # As over the websocket: a restarted monitor then knows exactly which readings the
    # server holds (a time cut to the second would send one again, and store it twice).
    measured = datetime(2026, 12, 2, 3, 15, 7, 123456, tzinfo=UTC)
    assert hl7_time(measured) == "20261202031507.123+0000"
    assert parse_dtm(hl7_time(measured), "OBX-14", None) == measured.replace(microsecond=123000)


@one_database_is_enough
async def test_chairside_simulate_protocol_hl7_sends_pcd01_with_the_readings_own_times(
    site: Clinic,
) -> None:
    port = site.settings.hl7_port
    assert port is not None
    env = {**os.environ, "CHAIRSIDE_SIM_PASSWORD": PASSWORD}
    args = ["--url", site.server.url, "--hl7-port", str(port), "--chairs", "1", "--seed", "11"]
    args += ["--scenario", "typical", "--speed", "3000", "--duration", "12", "--quiet"]
    run = await asyncio.to_thread(
        run_chairside, env, "simulate", "--protocol", "hl7", "--protocol", "spravato", *args
    )
    assert run.returncode == 0, run.stderr
    plan = plan_chair(1, 11, "typical", 12 * 60.0, "spravato")
    assert f"{len(plan.readings)} acknowledged" in run.stderr
    rows = await site.query(
        "SELECT s.protocol, r.measured_at FROM reading r JOIN treatment_session s ON s.id = r.session_id"
        " WHERE s.patient_label = 'SIM-11-01' ORDER BY r.measured_at"
    )
    assert {r[0] for r in rows} == {"spravato"}
    stamps = [datetime.fromisoformat(str(r[1])) for r in rows]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == len(plan.readings)
    expected = [b.t_s - a.t_s for a, b in zip(plan.readings, plan.readings[1:], strict=False)]
    assert gaps == pytest.approx(expected, abs=0.0015)
    both = await asyncio.to_thread(run_chairside, env, "simulate", "--protocol", "websocket", *args)
    assert both.returncode == 2 and "contradict" in both.stderr


async def test_a_source_bound_from_the_command_line_leaves_the_list_at_its_next_message(
    site: Clinic,
) -> None:
    admin = await login(site, "admin")
    monitor = await connect(site)
    message = fresh(sample("valid-pcd01-request.hl7v2"), datetime.now(UTC) - timedelta(seconds=5))
    assert fields(await monitor.send(message))["MSA-1"] == "AR"
    assert len((await admin.get("/api/hl7/unbound")).json()) == 1
    # Bound by another process (the server hears nothing of it): still listed until the
    # source's next message finds its device.
    env = {**os.environ, "CHAIRSIDE_DATABASE_URL": site.settings.database_url}
    added = await asyncio.to_thread(
        run_chairside, env, "device", "add", "--chair", "Chair 5", "--hl7-source", EUI64
    )
    assert added.returncode == 0, added.stderr
    assert len((await admin.get("/api/hl7/unbound")).json()) == 1
    assert fields(await monitor.send(message))["MSA-1"] == "AA"
    assert (await admin.get("/api/hl7/unbound")).json() == []
    await monitor.close()
    await admin.aclose()


async def test_a_revoked_monitor_is_refused_at_its_next_message(site: Clinic) -> None:
    admin = await login(site, "admin")
    device = await bind(admin, "Chair 3", EUI64)
    monitor = await connect(site)
    nibp = sample("valid-pcd01-request.hl7v2")
    now = datetime.now(UTC)
    assert fields(await monitor.send(fresh(nibp, now - timedelta(seconds=5))))["MSA-1"] == "AA"
    revoked = await admin.post(f"/api/devices/{device['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["hl7_source"] is None
    for _ in range(50):  # the revocation reaches the listener through the hub
        answer = await monitor.send(fresh(nibp, now))
        if fields(answer)["MSA-1"] == "AR":
            break
        await asyncio.sleep(0.05)
    assert fields(answer)["MSA-1"] == "AR"
    assert errs(answer)[0][1] == "204"
    [(count,)] = await site.query("SELECT count(*) FROM reading")
    assert count <= 2  # at most one message was taken between the revocation and the listener
    # The source is free for the replacement monitor.
    replacement = await bind(admin, "Chair 3", EUI64)
    assert fields(await monitor.send(fresh(nibp, now)))["MSA-1"] == "AA"
    rows = await site.query("SELECT device_id FROM reading ORDER BY id")
    assert rows[-1][0] == replacement["id"]
    await monitor.close()
    await admin.aclose()
