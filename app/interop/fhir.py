"""A session as a FHIR R4 ``Bundle`` (type ``collection``) for an EHR: a pseudonymous Patient,
the session as an Encounter at its chair (a Location), the monitors that sent its readings
(Devices), and one vital-signs Observation per stored measurement.

The resources are plain dicts so the server needs no FHIR library; the tests validate each one
with ``fhir.resources`` (R4B models) and check the codes and units the models do not. Every
``fullUrl`` is a ``urn:uuid:`` made from the record's ids, so two exports of one session are
equal and an EHR that imports both sees the same resources again rather than copies.

Codes (LOINC for FHIR, IEEE 11073-10101 "MDC" beside it, UCUM units), with their sources:
LOINC and profiles from the FHIR R4 vital-signs profile (hl7.org/fhir/R4/vitalsigns.html and
the value set observation-vitalsignresult); SpO2's second LOINC 59408-5 from US Core's pulse
oximetry profile; NIBP 150020-150023, HR 147842 and SpO2 150456 as in the HL7 PHD / PoCD IG
examples; RR 151562 (MDC_RESP_RATE), EtCO2 151708 (MDC_AWAY_CO2_ET) and EtCO2's LOINC 19889-5
from the IEEE 11073-10101 nomenclature and LOINC (EtCO2 is not one of the core vital signs, so
it carries the category and the base profile only)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Chair, Device, Reading, TreatmentSession
from app.services import sessions
from app.services.readings import iso

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# The HL7 security label "pseudonymized": the Patient is the clinic's label, not a person.
SECURITY = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
VITAL_SIGNS = PROFILE + "vitalsigns"

# Names the urn:uuid of every resource is made from (uuid5): stable across exports.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:chairside:fhir")

MEDIA_TYPE = "application/fhir+json"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Unit:
    code: str  # UCUM
    unit: str  # what a person reads

    def quantity(self, value: float) -> dict[str, Any]:
        return {"value": _number(value), "unit": self.unit, "system": UCUM, "code": self.code}


MMHG = Unit("mm[Hg]", "mmHg")
PERCENT = Unit("%", "%")
BEATS = Unit("/min", "beats/minute")
BREATHS = Unit("/min", "breaths/minute")

BP_PANEL = (
    Code(LOINC, "85354-9", "Blood pressure panel with all children optional"),
    Code(MDC, "150020", "MDC_PRESS_BLD_NONINV"),
)


@dataclass(frozen=True)
class Measure:
    """One vital as FHIR codes it: its codings (LOINC first, MDC beside), unit and profile."""

    vital: str
    codes: tuple[Code, ...]
    unit: Unit
    profile: str | None  # the specific vital-signs profile; None: the base profile only


# The BP panel's components, in the order the panel lists them.
BP_COMPONENTS = (
    Measure(
        "sbp",
        (
            Code(LOINC, "8480-6", "Systolic blood pressure"),
            Code(MDC, "150021", "MDC_PRESS_BLD_NONINV_SYS"),
        ),
        MMHG,
        None,
    ),
    Measure(
        "dbp",
        (
            Code(LOINC, "8462-4", "Diastolic blood pressure"),
            Code(MDC, "150022", "MDC_PRESS_BLD_NONINV_DIA"),
        ),
        MMHG,
        None,
    ),
    Measure(
        "map",
        (
            Code(LOINC, "8478-0", "Mean blood pressure"),
            Code(MDC, "150023", "MDC_PRESS_BLD_NONINV_MEAN"),
        ),
        MMHG,
        None,
    ),
)

# Every other vital: an Observation of its own. HR is coded as the monitor's heart rate
# (147842); Chairside stores one HR whichever sensor gave it.
SINGLE_MEASURES = (
    Measure(
        "hr",
        (Code(LOINC, "8867-4", "Heart rate"), Code(MDC, "147842", "MDC_ECG_HEART_RATE")),
        BEATS,
        PROFILE + "heartrate",
    ),
    Measure(
        "spo2",
        (
            Code(LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
            Code(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            Code(MDC, "150456", "MDC_PULS_OXIM_SAT_O2"),
        ),
        PERCENT,
        PROFILE + "oxygensat",
    ),
    Measure(
        "rr",
        (Code(LOINC, "9279-1", "Respiratory rate"), Code(MDC, "151562", "MDC_RESP_RATE")),
        BREATHS,
        PROFILE + "resprate",
    ),
    Measure(
        "etco2",
        (
            Code(
                LOINC,
                "19889-5",
                "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration",
            ),
            Code(MDC, "151708", "MDC_AWAY_CO2_ET"),
        ),
        MMHG,
        None,
    ),
)


async def session_bundle(db: AsyncSession, session_id: int) -> dict[str, Any]:
    """The session's Bundle; ``NotFound`` (404) for an unknown session."""
    session = await sessions.get_session(db, session_id)
    chair = await db.get(Chair, session.chair_id)
    assert chair is not None  # the foreign key keeps it
    readings = list(
        (
            await db.scalars(
                select(Reading)
                .where(Reading.session_id == session_id)
                .order_by(Reading.measured_at, Reading.id)
            )
        ).all()
    )
    device_ids = sorted({r.device_id for r in readings})
    devices = (
        list((await db.scalars(select(Device).where(Device.id.in_(device_ids)))).all())
        if device_ids
        else []
    )
    return build_bundle(session, chair, sorted(devices, key=lambda d: d.id), readings)


def build_bundle(
    session: TreatmentSession,
    chair: Chair,
    devices: Iterable[Device],
    readings: Iterable[Reading],
) -> dict[str, Any]:
    """The Bundle of these records: Patient, Encounter, Location, Devices, then the
    Observations in the order they were measured."""
    patient = _urn("patient", session.id)
    encounter = _urn("encounter", session.id)
    location = _urn("location", chair.id)
    entries = [
        _entry(patient, _patient(session)),
        _entry(encounter, _encounter(session, patient, location)),
        _entry(location, {"resourceType": "Location", "name": chair.name, "mode": "instance"}),
    ]
    for device in devices:
        entries.append(_entry(_urn("device", device.id), _device(device, chair, location)))
    for reading in readings:
        links = {
            "subject": {"reference": patient},
            "encounter": {"reference": encounter},
            "effectiveDateTime": iso(reading.measured_at),
            "issued": iso(reading.received_at),
            "device": {"reference": _urn("device", reading.device_id)},
        }
        for kind, observation in _observations(reading):
            entries.append(_entry(_urn(f"reading/{reading.id}", kind), observation | links))
    return {
        "resourceType": "Bundle",
        "id": _uuid("bundle", session.id),
        "type": "collection",
        "entry": entries,
    }


def _observations(reading: Reading) -> list[tuple[str, dict[str, Any]]]:
    """The reading's Observations, each with the key that names it within the reading."""
    found: list[tuple[str, dict[str, Any]]] = []
    parts = [(m, getattr(reading, m.vital)) for m in BP_COMPONENTS]
    components = [(m, v) for m, v in parts if v is not None]
    if components:
        # The core BP profile needs both systolic and diastolic; a reading that kept only one
        # (the other was out of range) is still a panel, under the base profile.
        complete = reading.sbp is not None and reading.dbp is not None
        panel = _observation(BP_PANEL, PROFILE + "bp" if complete else None)
        panel["component"] = [
            {"code": _concept(m.codes), "valueQuantity": m.unit.quantity(v)} for m, v in components
        ]
        found.append(("bp", panel))
    for measure in SINGLE_MEASURES:
        value = getattr(reading, measure.vital)
        if value is not None:
            observation = _observation(measure.codes, measure.profile)
            observation["valueQuantity"] = measure.unit.quantity(value)
            found.append((measure.vital, observation))
    return found


def _observation(codes: tuple[Code, ...], profile: str | None) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [VITAL_SIGNS, *([profile] if profile else [])]},
        "status": "final",
        "category": [
            {
                "coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs",
            }
        ],
        "code": _concept(codes),
    }


def _patient(session: TreatmentSession) -> dict[str, Any]:
    """Only the label the clinic gave the session: no name, birth date or sex is known."""
    return {
        "resourceType": "Patient",
        "meta": {"security": [{"system": SECURITY, "code": "PSEUDED", "display": "pseudonymized"}]},
        "identifier": [{"value": session.patient_label}],
        "name": [{"text": session.patient_label}],
    }


def _encounter(session: TreatmentSession, patient: str, location: str) -> dict[str, Any]:
    period = {"start": iso(session.started_at)}
    if session.ended_at is not None:
        period["end"] = iso(session.ended_at)
    return {
        "resourceType": "Encounter",
        "identifier": [{"value": str(session.id)}],
        "status": "in-progress" if session.ended_at is None else "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": {"reference": patient},
        "period": period,
        "location": [
            {
                "location": {"reference": location},
                "status": "active" if session.ended_at is None else "completed",
            }
        ],
    }


def _device(device: Device, chair: Chair, location: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "identifier": [{"value": str(device.id)}],
        "status": "inactive" if device.revoked_at is not None else "active",
        "deviceName": [{"name": device.label, "type": "user-friendly-name"}],
    }
    if device.hl7_source is not None:  # the identity its HL7 messages carry
        resource["identifier"].append({"type": {"text": "HL7 source"}, "value": device.hl7_source})
    if device.chair_id == chair.id:
        resource["location"] = {"reference": location}
    return resource


def _concept(codes: tuple[Code, ...]) -> dict[str, Any]:
    return {"coding": [c.coding() for c in codes], "text": codes[0].display}


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    """The resource under its urn:uuid, which is also its id."""
    kind, rest = resource["resourceType"], resource.copy()
    del rest["resourceType"]
    identity = {"resourceType": kind, "id": full_url.removeprefix("urn:uuid:")}
    return {"fullUrl": full_url, "resource": identity | rest}


def _uuid(kind: str, key: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{key}"))


def _urn(kind: str, key: object) -> str:
    return f"urn:uuid:{_uuid(kind, key)}"


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
