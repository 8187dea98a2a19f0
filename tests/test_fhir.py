"""The FHIR R4 export of a real session (opened through the API, vitals sent over the ingest
websocket), on SQLite and PostgreSQL: every resource validates with ``fhir.resources`` (R4B),
and what those models do not check holds too: the LOINC and MDC codes of each vital, UCUM
units, the stored values, one Observation per measurement, references that resolve inside the
Bundle, zoned effective times equal to the measured times, a Patient that carries only its
label, the same Bundle twice and from the command line, and 404 for an unknown session."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Device as DeviceRow
from tests.browser.helpers import backdate_session, iso, now, start_session
from tests.support import Clinic, Device, device_connect, run_chairside

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
LABEL = "KT-0417"

# vital -> (LOINC codes, MDC code, UCUM unit, specific profile) as the README's table has them.
SINGLE = {
    "hr": ({"8867-4"}, "147842", "/min", "heartrate"),
    "spo2": ({"2708-6", "59408-5"}, "150456", "%", "oxygensat"),
    "rr": ({"9279-1"}, "151562", "/min", "resprate"),
    "etco2": ({"19889-5"}, "151708", "mm[Hg]", None),
}
BP = {"sbp": ("8480-6", "150021"), "dbp": ("8462-4", "150022"), "map": ("8478-0", "150023")}

# The monitor's readings, oldest first (seconds before now, vitals): NIBP with and without a
# mean, pulse oximetry (one SpO2 with a fraction), a capnograph's RR and EtCO2, and one NIBP
# whose diastolic the ingest drops as implausible, which leaves a systolic-only panel.
COURSE: list[tuple[int, dict[str, float]]] = [
    (300, {"sbp": 126, "dbp": 82, "map": 97, "hr": 71, "spo2": 98}),
    (240, {"hr": 73, "spo2": 96.5, "rr": 14, "etco2": 38}),
    (180, {"sbp": 131, "dbp": 84, "hr": 76}),
    (120, {"rr": 12, "etco2": 41}),
    (60, {"sbp": 140, "dbp": 5, "hr": 78, "spo2": 97}),
    (0, {"hr": 80}),
]


async def treated_session(clinic: Clinic, nurse: httpx.AsyncClient) -> dict[str, Any]:
    """A session at Chair 1 with COURSE stored; returns the session and its stored readings."""
    token, device_id, chair_id = await clinic.add_device("Chair 1")
    session = await start_session(nurse, chair_id, LABEL)
    await backdate_session(clinic, session["id"], timedelta(minutes=10))
    at = now()
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        for seq, (ago, vitals) in enumerate(COURSE, start=1):
            await device.send(
                {"type": "reading", "seq": seq, "ts": iso(at - timedelta(seconds=ago))} | vitals
            )
            reply = await device.recv(timeout=10)
            assert reply["type"] == "ack", reply
    readings = await nurse.get(f"/api/sessions/{session['id']}/readings")
    assert readings.status_code == 200, readings.text
    stored = readings.json()
    assert len(stored) == len(COURSE)
    assert stored[4]["sbp"] == 140 and stored[4]["dbp"] is None  # the dropped diastolic
    return {"session": session, "readings": stored, "device_id": device_id}


async def fhir_of(client: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session_id}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = response.json()
    return bundle


def validated(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource parsed by its R4B model; the resources by fullUrl."""
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "collection"
    by_url: dict[str, dict[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["fullUrl"] not in by_url
        by_url[entry["fullUrl"]] = resource
    return by_url


def of_type(by_url: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in by_url.values() if r["resourceType"] == kind]


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def codes(concept: dict[str, Any], system: str) -> set[str]:
    return {c["code"] for c in concept["coding"] if c["system"] == system}


def quantity(resource: dict[str, Any]) -> float:
    q = resource["valueQuantity"]
    assert (q["system"], q["code"]) == (UCUM, q["code"]) and q["code"] in {"mm[Hg]", "/min", "%"}
    return float(q["value"])


def zoned(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    assert at.tzinfo is not None, text
    return at


async def test_a_session_exports_as_a_valid_fhir_bundle_of_its_stored_vitals(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    treated = await treated_session(clinic, nurse)
    session, stored = treated["session"], treated["readings"]
    bundle = await fhir_of(nurse, session["id"])
    by_url = validated(bundle)

    [patient] = of_type(by_url, "Patient")
    assert set(patient) == {"resourceType", "id", "meta", "identifier", "name"}
    assert patient["identifier"] == [{"value": LABEL}] and patient["name"] == [{"text": LABEL}]
    assert [s["code"] for s in patient["meta"]["security"]] == ["PSEUDED"]

    [encounter] = of_type(by_url, "Encounter")
    [location] = of_type(by_url, "Location")
    assert encounter["status"] == "in-progress" and "end" not in encounter["period"]
    assert encounter["class"]["code"] == "AMB"
    [listed] = [s for s in (await nurse.get("/api/sessions")).json() if s["id"] == session["id"]]
    assert zoned(encounter["period"]["start"]) == zoned(listed["started_at"])
    assert location["name"] == "Chair 1"
    assert by_url[encounter["location"][0]["location"]["reference"]] is location
    [device] = of_type(by_url, "Device")
    assert device["deviceName"][0]["name"] == "Chair 1 monitor"
    assert device["identifier"] == [{"value": str(treated["device_id"])}]

    # Every reference resolves inside the Bundle, to a resource of the kind it names.
    for ref in references(bundle["entry"]):
        assert ref in by_url, ref

    observations = of_type(by_url, "Observation")
    expected = sum(
        any(r[v] is not None for v in BP) + sum(r[v] is not None for v in SINGLE) for r in stored
    )
    assert len(observations) == expected == 15
    for obs in observations:
        assert obs["status"] == "final" and VITAL_SIGNS in obs["meta"]["profile"]
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        assert by_url[obs["subject"]["reference"]] is patient
        assert by_url[obs["encounter"]["reference"]] is encounter
        assert by_url[obs["device"]["reference"]] is device

    for reading in stored:
        measured = zoned(reading["measured_at"])
        mine = [o for o in observations if zoned(o["effectiveDateTime"]) == measured]
        want_bp = {v: reading[v] for v in BP if reading[v] is not None}
        want = {v: reading[v] for v in SINGLE if reading[v] is not None}
        assert len(mine) == bool(want_bp) + len(want), reading
        for obs in mine:
            loinc, mdc = codes(obs["code"], LOINC), codes(obs["code"], MDC)
            if loinc == {"85354-9"}:
                assert mdc == {"150020"}
                got = {}
                for component in obs["component"]:
                    [vital] = [
                        v for v, (ln, md) in BP.items() if codes(component["code"], LOINC) == {ln}
                    ]
                    assert codes(component["code"], MDC) == {BP[vital][1]}
                    assert component["valueQuantity"]["code"] == "mm[Hg]"
                    got[vital] = quantity(component)
                assert got == want_bp
                complete = "sbp" in want_bp and "dbp" in want_bp
                bp_profile = "http://hl7.org/fhir/StructureDefinition/bp"
                assert (bp_profile in obs["meta"]["profile"]) == complete
                continue
            [vital] = [v for v, spec in SINGLE.items() if spec[0] == loinc]
            _, mdc_code, unit, profile = SINGLE[vital]
            assert mdc == {mdc_code}
            assert obs["valueQuantity"]["code"] == unit
            assert quantity(obs) == want.pop(vital)
            if profile:
                assert (
                    f"http://hl7.org/fhir/StructureDefinition/{profile}" in obs["meta"]["profile"]
                )
        assert want == {}, f"no Observation for {want} of {reading}"

    # Another export, by another role, is the same Bundle; after the end, the Encounter ends.
    assert await fhir_of(clinician, session["id"]) == bundle
    await bind_hl7_source(clinic, treated["device_id"], "0123456789ABCDEF")
    ended = await nurse.post(f"/api/sessions/{session['id']}/end")
    assert ended.status_code == 200, ended.text
    after = validated(await fhir_of(nurse, session["id"]))
    [finished] = of_type(after, "Encounter")
    assert finished["status"] == "finished"
    assert zoned(finished["period"]["end"]) == zoned(ended.json()["ended_at"])
    [bound] = of_type(after, "Device")
    assert bound["identifier"] == [
        {"value": str(treated["device_id"])},
        {"type": {"text": "HL7 source"}, "value": "0123456789ABCDEF"},
    ]


async def bind_hl7_source(clinic: Clinic, device_id: int, source: str) -> None:
    """Test set-up only: the monitor now also reports over HL7 under this equipment id."""

    async def work(db: AsyncSession) -> None:
        device = await db.get(DeviceRow, device_id)
        assert device is not None
        device.hl7_source = source

    await clinic.db_work(work)


async def test_the_command_line_prints_the_same_bundle_and_refuses_an_unknown_session(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    treated = await treated_session(clinic, nurse)
    session_id = treated["session"]["id"]
    env = {**os.environ, "CHAIRSIDE_DATABASE_URL": clinic.settings.database_url}
    printed, missing = await asyncio.gather(
        asyncio.to_thread(run_chairside, env, "export", str(session_id), "--format", "fhir"),
        asyncio.to_thread(run_chairside, env, "export", "999999", "--format", "fhir"),
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == await fhir_of(nurse, session_id)
    assert missing.returncode == 2 and "no session with id 999999" in missing.stderr
    assert missing.stdout == ""


async def test_an_unknown_session_is_404_and_a_stranger_gets_nothing(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    response = await nurse.get("/api/sessions/999999/fhir")
    assert response.status_code == 404
    assert "no session with id 999999" in response.json()["detail"]
    async with httpx.AsyncClient(base_url=clinic.server.url, timeout=10) as stranger:
        assert (await stranger.get("/api/sessions/1/fhir")).status_code == 401
