"""IHE PCD-01 (HL7 v2 ORU^R01): which device sent it and the readings it carries.

Pure: bytes in, a ``Pcd01`` out (or a ``MessageError``); no I/O. Numerics are mapped by their
IEEE 11073-10101 (MDC) code, never by their label, with their unit (MDC dimension code or UCUM)
converted to the unit Chairside stores. Codes and units: INTEROP.md §1 and its sources.

Decisions:

* Each OBX stands alone. A row whose content is wrong (a value that is not a number, a unit
  that is not one of the parameter's, an unreadable time, a value outside the plausible range)
  is dropped and named in the ACK (``AE``); the rest of the message is stored, as ``/ws/ingest``
  keeps the valid vitals of a reading and names the dropped ones.
* Rows describing the device hierarchy (OBX-11 ``X`` or an empty OBX-2), results marked wrong,
  deleted or not obtained (OBX-11 ``W``/``D``/``N``), codes Chairside does not store and
  invasive pressures (150033-150035 arterial, pulmonary, ...: not NIBP) are skipped silently.
* A reading's time is OBX-14, else the OBX-14 of the nearest row above it in the containment
  tree (OBX-4: the NIBP compound row 150020 carries the time of its three values), else OBR-7,
  else MSH-7. Rows with one time make one reading.
* Several codes for one vital in one reading: the most direct measurement wins. Heart rate:
  ECG (147842) over the oximeter's pulse rate (149530), the arterial line's (149522), the cuff's
  (149546), a generic pulse rate (149514). Respiration rate: the capnograph's (151594) and the
  airway flow's (151570), which count breaths that move gas, over a rate of no stated method
  (151562), the oximeter's plethysmogram's (151658) and the transthoracic impedance rate
  (151578), which also counts chest movement against a closed airway (an obstructed patient
  "breathes" on impedance while nothing moves: the apnoea rule must not be fooled by it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from app.interop.hl7_message import Message, MessageError, Segment, parse, parse_dtm

# MDC code -> (vital, rank): a lower rank wins when one reading carries several codes of a vital.
# NIBP, HR, pulse rates and SpO2: INTEROP.md §1 table. RR and EtCO2 are not in INTEROP.md. The
# RR codes are as the Danish core FHIR IG's IEEE value set lists them (dk-core-IEEEBasicObservation:
# 151562 MDC_RESP_RATE, 151570 MDC_AWAY_RESP_RATE, 151578 MDC_TTHOR_RESP_RATE, 151594
# MDC_CO2_RESP_RATE, 151658 MDC_PULS_OXIM_PLETH_RESP_RATE); EtCO2 151708 (MDC_CONC_AWAY_CO2_ET,
# "MDC_AWAY_CO2_ET" in OpenICE) is from the 10101 term numbering (2 * 65536 + 20636) and one
# public code listing, not an IG: check it against a gateway's own export guide.
MDC_VITALS: dict[str, tuple[str, int]] = {
    "150021": ("sbp", 0),  # MDC_PRESS_BLD_NONINV_SYS
    "150022": ("dbp", 0),  # MDC_PRESS_BLD_NONINV_DIA
    "150023": ("map", 0),  # MDC_PRESS_BLD_NONINV_MEAN
    "147842": ("hr", 0),  # MDC_ECG_HEART_RATE
    "149530": ("hr", 1),  # MDC_PULS_OXIM_PULS_RATE
    "149522": ("hr", 2),  # MDC_BLD_PULS_RATE_INV
    "149546": ("hr", 3),  # MDC_PULS_RATE_NON_INV
    "149514": ("hr", 4),  # MDC_PULS_RATE
    "150456": ("spo2", 0),  # MDC_PULS_OXIM_SAT_O2
    "151594": ("rr", 0),  # MDC_CO2_RESP_RATE (capnography)
    "151570": ("rr", 1),  # MDC_AWAY_RESP_RATE (airway flow)
    "151562": ("rr", 2),  # MDC_RESP_RATE (method not stated)
    "151658": ("rr", 3),  # MDC_PULS_OXIM_PLETH_RESP_RATE
    "151578": ("rr", 4),  # MDC_TTHOR_RESP_RATE (impedance)
    "151708": ("etco2", 0),  # MDC_CONC_AWAY_CO2_ET
}
# 1 mmHg = 133.322387415 Pa (the conventional definition), so 1 kPa = 7.50061683 mmHg.
MMHG_PER_KPA = 1000 / 133.322387415
_PRESSURE = {
    "266016": 1.0,  # MDC_DIM_MMHG
    "mm[hg]": 1.0,
    "mmhg": 1.0,
    # MDC_DIM_KILO_PA: MDC_DIM_PA (3840) with the kilo prefix (3), partition 4; derived as
    # INTEROP.md derives 266016, not quoted. UCUM kPa.
    "265987": MMHG_PER_KPA,
    "kpa": MMHG_PER_KPA,
}
_PER_MIN = {
    "264864": 1.0,  # MDC_DIM_BEAT_PER_MIN
    "264928": 1.0,  # MDC_DIM_RESP_PER_MIN
    "/min": 1.0,
    "{beats}/min": 1.0,
    "{beat}/min": 1.0,
    "{breaths}/min": 1.0,
    "{breath}/min": 1.0,
}
_PERCENT = {"262688": 1.0, "%": 1.0}  # MDC_DIM_PERCENT, UCUM
UNITS: dict[str, dict[str, float]] = {
    "sbp": _PRESSURE,
    "dbp": _PRESSURE,
    "map": _PRESSURE,
    "etco2": _PRESSURE,
    "hr": _PER_MIN,
    "rr": _PER_MIN,
    "spo2": _PERCENT,
}
SKIPPED_STATUSES = frozenset({"X", "W", "D", "N"})
SEQ_BITS = 63  # the writer's seq column is a signed 64-bit integer


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One OBX dropped for its content: which row, which field, why."""

    position: int  # the segment's position in the message, 1-based (ERR-2.2)
    set_id: str  # OBX-1, as the sender numbered it
    field: int
    code: str  # HL7 table 0357
    detail: str


@dataclass(frozen=True, slots=True)
class Value:
    vital: str
    value: float
    rank: int
    row: int  # the OBX's segment position, to name it when validation drops the value
    set_id: str
    mdc: str


@dataclass(slots=True)
class Reading:
    """The values of one observation time, before validation."""

    ts: datetime
    values: dict[str, Value] = field(default_factory=dict)

    def seq(self, control_id: str) -> int:
        """The writer's dedupe key: the message's MSH-10 and this reading's time. A resent
        message carries both again (stored once); a gateway that reuses message ids after a
        restart sends new observation times, so its new readings are not taken for resends."""
        key = f"{control_id}\x00{self.ts.isoformat()}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8]) >> (64 - SEQ_BITS)


@dataclass(frozen=True, slots=True)
class Identifier:
    """One identity the message carries; a device is bound to one of these values."""

    kind: str  # "OBX-18", "MSH-3" or "PV1-3"
    value: str


@dataclass(frozen=True, slots=True)
class Pcd01:
    message: Message
    control_id: str
    identifiers: tuple[Identifier, ...]
    readings: tuple[Reading, ...]
    problems: tuple[RowProblem, ...]


def message_type(message: Message) -> tuple[str, str]:
    return message.msh.component(9, 1), message.msh.component(9, 2)


def identifiers(message: Message) -> tuple[Identifier, ...]:
    """Most specific first: the equipment (OBX-18 EI-1), the sending device or gateway (MSH-3:
    its universal id, e.g. an EUI-64, else its namespace id), the bed (PV1-3 as sent)."""
    found: list[Identifier] = []
    for obx in message.all("OBX"):
        for rep in range(len(obx.raw(18).split(obx.repetition_sep))):
            value = obx.component(18, 1, rep)
            if value:
                found.append(Identifier("OBX-18", value))
    msh = message.msh
    sender = msh.component(3, 2) or msh.component(3, 1)
    if sender:
        found.append(Identifier("MSH-3", sender))
    pv1 = message.first("PV1")
    if pv1 is not None and pv1.text(3):
        found.append(Identifier("PV1-3", pv1.text(3)))
    return tuple(dict.fromkeys(found))


def parse_pcd01(raw: bytes, zone: tzinfo | None) -> Pcd01:
    """Read an ORU^R01; ``zone`` is the zone of times sent without an offset (None: refused).

    Raises ``MessageError`` for what makes the whole message unusable: not HL7, not an
    ORU^R01, no MSH-10, no OBR, no usable time."""
    message = parse(raw)
    kind, trigger = message_type(message)
    if (kind, trigger) != ("ORU", "R01"):
        raise MessageError("MSH-9", f"{kind}^{trigger} is not accepted here; send ORU^R01")
    control_id = message.control_id
    if not control_id:
        raise MessageError("MSH-10", "the message control id is empty")
    if message.first("OBR") is None:
        raise MessageError("OBR", "an ORU^R01 needs an OBR segment")
    fallback = _time_of(message.msh, 7, "MSH-7", zone)
    readings: dict[datetime, Reading] = {}
    problems: list[RowProblem] = []
    obr_time: datetime | None = fallback
    path_times: dict[str, datetime] = {}
    for position, segment in enumerate(message.segments, start=1):
        if segment.name == "OBR":
            obr_time = _time_of(segment, 7, "OBR-7", zone) or fallback
            path_times = {}
        if segment.name != "OBX":
            continue
        try:
            _read_obx(segment, position, zone, obr_time, path_times, readings)
        except _RowError as exc:
            problems.append(RowProblem(position, segment.text(1), exc.field, exc.code, exc.detail))
    return Pcd01(
        message,
        control_id,
        identifiers(message),
        tuple(sorted(readings.values(), key=lambda r: r.ts)),
        tuple(problems),
    )


class _RowError(Exception):
    def __init__(self, field: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.field, self.code, self.detail = field, code, detail


def _time_of(segment: Segment, n: int, name: str, zone: tzinfo | None) -> datetime | None:
    value = segment.component(n, 1)
    return parse_dtm(value, name, zone) if value else None


def _read_obx(
    obx: Segment,
    position: int,
    zone: tzinfo | None,
    obr_time: datetime | None,
    path_times: dict[str, datetime],
    readings: dict[datetime, Reading],
) -> None:
    label = f"OBX-{obx.text(1) or position}"
    path = obx.text(4)
    own_time: datetime | None = None
    if obx.component(14, 1):
        try:
            own_time = parse_dtm(obx.component(14, 1), f"{label} OBX-14", zone)
        except MessageError as exc:
            raise _RowError(14, "102", exc.detail) from None
        if path:
            path_times[path] = own_time
    if obx.text(11).upper() in SKIPPED_STATUSES or not obx.text(2):
        return
    code = obx.component(3, 1)
    if code not in MDC_VITALS:
        return
    vital, rank = MDC_VITALS[code]
    if obx.text(2).upper() != "NM":
        raise _RowError(2, "102", f"{label} ({code}) has value type {obx.text(2)!r}; expected NM")
    text = obx.component(5, 1)
    if not text:
        return  # no value: nothing measured
    try:
        number = float(text)
    except ValueError:
        raise _RowError(5, "102", f"{label} ({code}) value {text[:20]!r} is not a number") from None
    unit = obx.component(6, 1)
    factor = UNITS[vital].get(unit.lower())
    if factor is None:
        raise _RowError(
            6,
            "103",
            f"{label} ({code}) unit {unit[:20]!r} is not one for {vital} "
            f"(MDC or UCUM: {', '.join(k for k in UNITS[vital] if not k.isdigit())})",
        )
    ts = own_time or _inherited(path, path_times) or obr_time
    if ts is None:
        raise _RowError(14, "101", f"{label} ({code}) has no time (OBX-14, OBR-7 or MSH-7)")
    reading = readings.setdefault(ts, Reading(ts))
    value = Value(vital, round(number * factor, 3), rank, position, obx.text(1), code)
    held = reading.values.get(vital)
    if held is None or rank < held.rank:
        reading.values[vital] = value


def _inherited(path: str, path_times: dict[str, datetime]) -> datetime | None:
    while "." in path:
        path = path.rsplit(".", 1)[0]
        if path in path_times:
            return path_times[path]
    return None
