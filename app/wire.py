"""Wire format of the device ingest websocket: parse and validate frames, shape replies.

Shared by the server, the simulators and the replay tools, so it imports nothing from the
server's internals. Every problem is reported with a stable ``code`` and a ``detail`` a person
can act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

VITALS: tuple[str, ...] = ("sbp", "dbp", "map", "hr", "spo2")
VITAL_RANGES: dict[str, tuple[float, float]] = {
    "sbp": (40, 300),
    "dbp": (20, 200),
    "map": (30, 250),
    "hr": (20, 300),
    "spo2": (50, 100),
}
VITAL_UNITS: dict[str, str] = {
    "sbp": "mmHg",
    "dbp": "mmHg",
    "map": "mmHg",
    "hr": "/min",
    "spo2": "%",
}
MAX_FRAME_BYTES = 256 * 1024
MAX_BATCH_READINGS = 1000
FUTURE_TOLERANCE = timedelta(seconds=5)
READING_FIELDS = frozenset({"type", "seq", "ts", *VITALS})
BATCH_FIELDS = frozenset({"type", "readings"})


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """One validated reading as a device sent it."""

    seq: int
    ts: datetime
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None

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


def ack(seq: int, duplicate: bool = False) -> dict[str, Any]:
    """The reply to a reading that is durably stored (or was already)."""
    return (
        {"type": "ack", "seq": seq, "duplicate": True} if duplicate else {"type": "ack", "seq": seq}
    )


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def validate_vitals(values: Mapping[str, float | None]) -> tuple[str, str] | None:
    """Physiological plausibility of one set of vitals: ``(code, detail)`` of the first problem."""
    present = {k: v for k, v in values.items() if v is not None}
    if not present:
        return ("no_vitals", "a reading needs at least one of sbp, dbp, map, hr, spo2")
    for name, value in present.items():
        low, high = VITAL_RANGES[name]
        if not low <= value <= high:
            return (
                "out_of_range",
                f"{name} {_fmt(value)} is outside the plausible range "
                f"{_fmt(low)}-{_fmt(high)} {VITAL_UNITS[name]}",
            )
    sbp, dbp, mean = present.get("sbp"), present.get("dbp"), present.get("map")
    if sbp is not None and dbp is not None and dbp >= sbp:
        return ("dbp_not_below_sbp", f"diastolic {_fmt(dbp)} is not below systolic {_fmt(sbp)}")
    if sbp is not None and dbp is not None and mean is not None and not dbp <= mean <= sbp:
        return (
            "map_outside_bp",
            f"mean {_fmt(mean)} is not between diastolic {_fmt(dbp)} and systolic {_fmt(sbp)}",
        )
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


def _number(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def parse_reading(obj: Mapping[str, Any], now: datetime) -> ReadingIn | FrameError:
    """Validate one reading object (already decoded) against the contract."""
    raw_seq = obj.get("seq")
    seq = raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else None
    unknown = sorted(set(obj) - READING_FIELDS)
    if unknown:
        return FrameError("unknown_field", f"unknown field(s): {', '.join(unknown)}", seq)
    if "seq" not in obj:
        return FrameError("missing_field", "a reading needs 'seq'", None)
    if seq is None or seq < 0:
        return FrameError("invalid_seq", f"seq must be a non-negative integer, got {raw_seq!r}")
    if "ts" not in obj:
        return FrameError("missing_field", "a reading needs 'ts'", seq)
    ts = parse_ts(obj["ts"])
    if ts is None:
        return FrameError(
            "invalid_ts", f"ts must be ISO 8601 with a time zone, got {obj['ts']!r}", seq
        )
    if ts > now + FUTURE_TOLERANCE:
        ahead = (ts - now).total_seconds()
        return FrameError("ts_in_future", f"ts is {ahead:.0f} s ahead of the server clock", seq)
    values: dict[str, float | None] = {}
    for name in VITALS:
        raw = obj.get(name)
        if raw is None:
            values[name] = None
            continue
        number = _number(raw)
        if number is None:
            return FrameError("invalid_value", f"{name} must be a number, got {raw!r}", seq)
        values[name] = number
    problem = validate_vitals(values)
    if problem is not None:
        return FrameError(problem[0], problem[1], seq)
    return ReadingIn(seq=seq, ts=ts, **values)


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
