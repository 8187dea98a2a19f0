"""Wire format of the device ingest websocket: parse and validate frames, shape replies.

Shared by the server, the simulators and the replay tools, so it imports nothing from the
server's internals. Every problem is reported with a stable ``code`` and a ``detail`` a person
can act on.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

VITALS: tuple[str, ...] = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2")
BP_VITALS: tuple[str, ...] = ("sbp", "dbp", "map")
# What a bedside monitor can report, not what is typical: a value inside these ranges may be a
# real measurement and a reason to alarm; one outside them no monitor could have measured. The
# one table for the ingest and the trace replay. Each range covers the adult measuring ranges in
# the vendors' specifications (operator's manuals, "specifications" appendix):
VITAL_RANGES: dict[str, tuple[float, float]] = {
    # NIBP systolic: Philips IntelliVue NBP 30-270, GE DINAMAP SuperSTAT 30-290, Mindray
    # BeneView/BeneVision 40-270. Top kept at 300 (CLINICAL.md): above every cuff, so it hides
    # no real value.
    "sbp": (30, 300),
    # NIBP diastolic: Philips 10-245, GE 10-220, Mindray 10-215.
    "dbp": (10, 245),
    # NIBP mean: Philips 20-255, GE 20-260, Mindray 20-235.
    "map": (20, 260),
    # ECG heart rate: Mindray (Trio manual 6.2.4) and Philips 15-300, GE B20 30-300; pulse rate
    # from the oximeter: Mindray (BeneVision N22 manual A.14.4) 20-300, Nellcor 20-250, Masimo
    # 25-240 (Mindray iPM-9800 manual A.5.4).
    "hr": (15, 300),
    # SpO2: Masimo and Mindray 0-100 %, Nellcor 1-100 % (iPM-9800 manual A.5); accuracy is
    # specified only for 70-100 % (BeneVision N22 manual A.14), but a low value still alarms.
    "spo2": (0, 100),
    # Respiration rate, breaths/min: capnographs' airway RR (awRR) reads 0-150 (Medtronic
    # Capnostream and Philips Microstream modules: from knowledge, not a checked spec; the
    # Spacelabs capnography manual's RR alarm limits go to 150 BPM), impedance RR 0-120 (Philips,
    # from knowledge). 0 is a measurement: no breath (apnoea).
    "rr": (0, 150),
    # End-tidal CO2, mmHg: Capnostream and Microstream 0-150 (from knowledge, not a checked spec);
    # mainstream and sidestream modules read 0-99 or more (Spacelabs' EtCO2 alarm limits go to
    # 76 mmHg). 0 is a measurement: no CO2 exhaled (apnoea, a blocked or displaced cannula).
    "etco2": (0, 150),
}
VITAL_UNITS: dict[str, str] = {
    "sbp": "mmHg",
    "dbp": "mmHg",
    "map": "mmHg",
    "hr": "/min",
    "spo2": "%",
    "rr": "/min",
    "etco2": "mmHg",
}
MAX_FRAME_BYTES = 256 * 1024
MAX_BATCH_READINGS = 1000
# A seq is stored in a signed 64-bit column (PostgreSQL BIGINT, SQLite INTEGER): a larger one
# would pass here and then fail the group commit it shares with every other device's readings.
SEQ_MAX = 2**63 - 1
FUTURE_TOLERANCE = timedelta(seconds=5)
# How old a measurement may be. Rolling, not a fixed date: a monitor whose link was lost sends
# what it measured meanwhile when it is back, which can be days later (a link lost before a long
# weekend or a holiday week); two weeks is well past that. A monitor whose clock was reset (to
# 1970, 2000 or its firmware's epoch) is decades off, and years before 1 AD, which no database
# column holds, are far outside.
MAX_TS_AGE = timedelta(days=14)
READING_FIELDS = frozenset({"type", "seq", "ts", *VITALS})
BATCH_FIELDS = frozenset({"type", "readings"})


@dataclass(frozen=True, slots=True)
class VitalRejected:
    """One vital dropped from a reading, and why; the rest of the reading is kept."""

    vital: str
    code: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"vital": self.vital, "code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class VitalCheck:
    """The vitals of one reading after validation: those kept (None: absent or dropped) and
    those dropped, in the order their problems are checked."""

    values: dict[str, float | None]
    rejected: tuple[VitalRejected, ...] = ()

    @property
    def kept(self) -> dict[str, float]:
        return {name: value for name, value in self.values.items() if value is not None}

    def problem(self) -> tuple[str, str]:
        """The reading's error when nothing is kept: the first problem's code, every detail."""
        if not self.rejected:
            return ("no_vitals", f"a reading needs at least one of {', '.join(VITALS)}")
        details = dict.fromkeys(r.detail for r in self.rejected)  # a BP check names 3 vitals
        return (self.rejected[0].code, "; ".join(details))


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """One validated reading as a device sent it: the vitals kept, and those dropped."""

    seq: int
    ts: datetime
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    etco2: float | None = None
    rejected: tuple[VitalRejected, ...] = ()

    def vitals(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in VITALS}


@dataclass(frozen=True, slots=True)
class FrameError:
    """Why a frame or one reading in it was rejected; ``seq`` when it could be read."""

    code: str
    detail: str
    seq: int | None = None

    def reply(self) -> dict[str, Any]:
        return {"type": "error", "seq": self.seq, "code": self.code, "detail": self.detail}


def ack(
    seq: int, duplicate: bool = False, rejected: tuple[VitalRejected, ...] = ()
) -> dict[str, Any]:
    """The reply to a reading that is durably stored (or was already); ``rejected`` names
    the vitals dropped from it (absent when none was)."""
    reply: dict[str, Any] = {"type": "ack", "seq": seq}
    if duplicate:
        reply["duplicate"] = True
    if rejected:
        reply["rejected"] = [r.to_json() for r in rejected]
    return reply


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _shown(value: object) -> str:
    """What a device sent, for a detail: short, and safe for deeply nested values (a plain
    ``repr`` of a list nested 1000 deep raises RecursionError)."""
    return _REPR.repr(value)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def json_number(raw: object) -> float | None:
    """A JSON number as a finite float, or None (booleans, strings, NaN are not numbers)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def check_vitals(
    raw: Mapping[str, object], number: Callable[[object], float | None] = json_number
) -> VitalCheck:
    """Validate each vital of one reading on its own; ``raw`` maps a vital to what was sent
    (None or missing: absent) and ``number`` reads it as a number (None: not one).

    A value that is not a number or outside its plausible range is dropped alone. The BP
    consistency checks involve two values and cannot tell which is wrong, so a failure drops
    the whole BP reading (sbp, dbp and map); HR, SpO2, RR and EtCO2 are kept. Problems are checked (and
    listed) as a whole reading's were: values, then ranges, then consistency.
    """
    values: dict[str, float | None] = {}
    rejected: list[VitalRejected] = []
    for name in VITALS:
        cell = raw.get(name)
        values[name] = None if cell is None else number(cell)
        if cell is not None and values[name] is None:
            rejected.append(
                VitalRejected(name, "invalid_value", f"{name} must be a number, got {_shown(cell)}")
            )
    for name in VITALS:
        value = values[name]
        low, high = VITAL_RANGES[name]
        if value is not None and not low <= value <= high:
            values[name] = None
            rejected.append(
                VitalRejected(
                    name,
                    "out_of_range",
                    f"{name} {_fmt(value)} is outside the plausible range "
                    f"{_fmt(low)}-{_fmt(high)} {VITAL_UNITS[name]}",
                )
            )
    bp_problem = _bp_problem(values["sbp"], values["dbp"], values["map"])
    if bp_problem is not None:
        for name in BP_VITALS:
            if values[name] is not None:
                values[name] = None
                rejected.append(VitalRejected(name, *bp_problem))
    return VitalCheck(values, tuple(rejected))


def _bp_problem(sbp: float | None, dbp: float | None, mean: float | None) -> tuple[str, str] | None:
    if sbp is None or dbp is None:
        return None
    if dbp >= sbp:
        return ("dbp_not_below_sbp", f"diastolic {_fmt(dbp)} is not below systolic {_fmt(sbp)}")
    if mean is not None and not dbp <= mean <= sbp:
        return (
            "map_outside_bp",
            f"mean {_fmt(mean)} is not between diastolic {_fmt(dbp)} and systolic {_fmt(sbp)}",
        )
    return None


def validate_vitals(values: Mapping[str, float | None]) -> tuple[str, str] | None:
    """Whether one set of vitals is valid whole: None, or ``(code, detail)`` of its problems."""
    check = check_vitals(values)
    if check.rejected or not check.kept:
        return check.problem()
    return None


def parse_ts(raw: object) -> datetime | None:
    """An ISO 8601 timestamp with a zone, or None."""
    if not isinstance(raw, str):
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def parse_reading(obj: Mapping[str, Any], now: datetime) -> ReadingIn | FrameError:
    """Validate one reading object (already decoded) against the contract. A reading keeps
    its valid vitals; with none left it is an error."""
    raw_seq = obj.get("seq")
    seq = raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else None
    unknown = sorted(set(obj) - READING_FIELDS)
    if unknown:
        return FrameError("unknown_field", f"unknown field(s): {', '.join(unknown)}", seq)
    if "seq" not in obj:
        return FrameError("missing_field", "a reading needs 'seq'", None)
    if seq is None or not 0 <= seq <= SEQ_MAX:
        return FrameError(
            "invalid_seq", f"seq must be an integer from 0 to 2^63-1, got {_shown(raw_seq)}"
        )
    if "ts" not in obj:
        return FrameError("missing_field", "a reading needs 'ts'", seq)
    ts = parse_ts(obj["ts"])
    if ts is None:
        return FrameError(
            "invalid_ts", f"ts must be ISO 8601 with a time zone, got {_shown(obj['ts'])}", seq
        )
    if ts > now + FUTURE_TOLERANCE:
        ahead = (ts - now).total_seconds()
        return FrameError("ts_in_future", f"ts is {ahead:.0f} s ahead of the server clock", seq)
    if ts < now - MAX_TS_AGE:
        return FrameError(
            "ts_too_old",
            f"ts is {(now - ts).days} days before the server clock; "
            f"the limit is {MAX_TS_AGE.days} days",
            seq,
        )
    check = check_vitals(obj)
    if not check.kept:
        return FrameError(*check.problem(), seq)
    return ReadingIn(seq, ts, **check.values, rejected=check.rejected)


def parse_frame(text: str | bytes, now: datetime) -> list[ReadingIn | FrameError]:
    """Decode one websocket text frame into its readings, each validated on its own.

    A frame-level problem (too large, not JSON, unknown type) gives a single error.
    """
    if len(text) > MAX_FRAME_BYTES:
        return [
            FrameError("frame_too_large", f"frame is {len(text)} bytes; limit {MAX_FRAME_BYTES}")
        ]
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return [FrameError("malformed_json", f"frame is not valid JSON: {exc}")]
    if not isinstance(obj, dict):
        return [FrameError("not_an_object", "a frame must be one JSON object")]
    kind = obj.get("type")
    if kind == "reading":
        return [parse_reading(obj, now)]
    if kind == "batch":
        unknown = sorted(set(obj) - BATCH_FIELDS)
        if unknown:
            return [FrameError("unknown_field", f"unknown field(s): {', '.join(unknown)}")]
        readings = obj.get("readings")
        if not isinstance(readings, list):
            return [FrameError("invalid_batch", "a batch needs 'readings': a list of readings")]
        if len(readings) > MAX_BATCH_READINGS:
            return [
                FrameError(
                    "batch_too_large",
                    f"batch has {len(readings)} readings; limit {MAX_BATCH_READINGS}",
                )
            ]
        out: list[ReadingIn | FrameError] = []
        for item in readings:
            if not isinstance(item, dict):
                out.append(FrameError("not_an_object", "each batch entry must be a reading object"))
                continue
            if item.get("type", "reading") != "reading":
                out.append(FrameError("unknown_type", "batch entries must be readings"))
                continue
            out.append(parse_reading({"type": "reading", **item}, now))
        return out
    return [FrameError("unknown_type", f"unknown frame type {kind!r}; expected reading or batch")]
