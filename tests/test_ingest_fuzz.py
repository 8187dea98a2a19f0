"""Fuzzing the ingest edge: arbitrary frames (JSON or not, nested, huge numbers, odd unicode and
timestamps, batches) get exactly the replies the contract promises, each with a documented code
or an ack of values inside the ranges; the live server stays up and stores nothing invalid."""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.wire import (
    FUTURE_TOLERANCE,
    MAX_BATCH_READINGS,
    MAX_FRAME_BYTES,
    MAX_TS_AGE,
    SEQ_MAX,
    VITAL_RANGES,
    VITALS,
    FrameError,
    ReadingIn,
    ack,
    parse_frame,
)
from tests.support import Clinic, Device, device_connect

README = Path(__file__).resolve().parent.parent / "README.md"


def documented_codes() -> frozenset[str]:
    """The codes of the README's ingest error table: the contract a device is written to."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| error code | meaning |", 1)[1].split("\n\n", 1)[0]
    codes = set()
    for row in table.splitlines()[2:]:
        codes.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    return frozenset(codes)


CODES = documented_codes()


# -- frames: JSON rendered by hand, so numbers can be what no encoder writes ------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put into a frame as it is: odd number literals, deep nesting, bulk."""

    text: str


@dataclass(frozen=True)
class Stamp:
    """A timestamp ``offset_s`` from the server's clock, written with this zone and form."""

    offset_s: float
    zone: timezone | None
    sep: str
    timespec: str


@dataclass(frozen=True)
class NextSeq:
    """The device's next seq, as a monitor counts: one more than the last one rendered."""


_seq_counter = itertools.count(1)


def render(value: object, now: datetime) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, NextSeq):
        return str(next(_seq_counter))
    if isinstance(value, Stamp):
        at = (now + timedelta(seconds=value.offset_s)).astimezone(value.zone or UTC)
        if value.zone is None:
            at = at.replace(tzinfo=None)
        return orjson.dumps(at.isoformat(sep=value.sep, timespec=value.timespec)).decode()
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return orjson.dumps(value).decode()  # a float NaN or infinity comes out as null
    if isinstance(value, int):
        return str(value)  # any size: orjson reads one beyond 64 bits as a float
    if isinstance(value, list):
        return "[" + ",".join(render(v, now) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{render(k, now)}:{render(v, now)}" for k, v in value.items()) + "}"
    raise TypeError(value)


ODD_NUMBERS = ["1e400", "-1e400", "1E-400", "-0", "-0.0", "0.1e1", "1" + "0" * 400, "01", "NaN"]
ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "\u0000", "\u202e70", "٧٠", "７０", "70\n", "💓", "\ufeff", "e\u0301"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=12,
)
deep = st.integers(1, 1100).map(lambda n: Raw("[" * n + "]" * n))


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The usual value about four times in five, so that most readings reach the later checks
    (the odd one on a middle choice: Hypothesis favours the ends of a range)."""
    return st.integers(0, 4).flatmap(lambda n: odd if n == 2 else usual)


seqs = mostly(
    st.just(NextSeq()) | st.integers(0, SEQ_MAX),
    st.one_of(
        st.sampled_from([0, SEQ_MAX, SEQ_MAX + 1, 2**64 - 1, 2**64, -1, -(2**63), -(2**63) - 1]),
        st.integers(),
        st.floats(allow_nan=False),
        st.sampled_from(ODD_NUMBERS).map(Raw),
        json_values,
    ),
)
OFFSETS = [(0, 0), (1, 0), (-23, -59), (5, 45), (14, 0)]
zones = mostly(
    st.sampled_from([timezone(timedelta(hours=h, minutes=m)) for h, m in OFFSETS]), st.none()
)
ODD_TIMESTAMPS = [
    "0001-01-01T00:30:00+01:00",  # UTC before year 1
    "0001-01-01T00:00:00Z",
    "1900-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",  # a monitor's clock reset to its epoch
    "2000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",  # UTC after year 9999
    "2026-W48-2T10:00Z",
    "2026-11-24T10:00:00+24:00",
    "2026-02-30T00:00:00Z",
    "now",
]
stamps = st.builds(
    Stamp,
    offset_s=st.floats(-2 * MAX_TS_AGE.total_seconds(), 3600) | st.sampled_from([0.0, -1.0, 4.0]),
    zone=zones,
    sep=st.sampled_from(["T", " "]),
    timespec=st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
)
timestamps = mostly(stamps, st.sampled_from(ODD_TIMESTAMPS) | json_values)


def vital(name: str) -> st.SearchStrategy[object]:
    low, high = VITAL_RANGES[name]
    return mostly(
        st.floats(low, high) | st.integers(int(low), int(high)),
        st.one_of(
            st.floats(),
            st.integers(),
            st.sampled_from([5e-324, -0.0, high + 1e-9, low - 1e-9]),
            st.sampled_from(ODD_NUMBERS).map(Raw),
            deep,
            json_values,
        ),
    )


@st.composite
def reading_objects(draw: st.DrawFn, typed: bool = True) -> dict[object, object]:
    obj: dict[object, object] = {}
    if typed or draw(st.booleans()):
        obj["type"] = draw(
            mostly(st.just("reading"), st.sampled_from(["batch", "Reading"]) | ODD_TEXT)
        )
    # The rare choices are in the middle of each range, as for ``mostly``.
    if draw(st.integers(0, 9)) != 5:
        obj["seq"] = draw(seqs)
    if draw(st.integers(0, 9)) != 5:
        obj["ts"] = draw(timestamps)
    for name in VITALS:
        if draw(st.integers(0, 2)) != 1:
            obj[name] = draw(vital(name))
    if draw(st.integers(0, 19)) == 10:
        obj[draw(ODD_TEXT)] = draw(json_values)
    return obj


batch_entries = mostly(reading_objects(typed=False) | reading_objects(), json_values)
frames = st.one_of(
    reading_objects(),
    reading_objects(),
    reading_objects(),
    st.fixed_dictionaries(
        {"type": st.just("batch"), "readings": st.lists(batch_entries, max_size=12)}
    ),
    st.fixed_dictionaries(
        {"type": st.just("batch"), "readings": st.lists(batch_entries, max_size=12)}
    ),
    st.fixed_dictionaries({"type": st.just("batch"), "readings": json_values}),
    st.just(
        Raw('{"type":"batch","readings":[' + ",".join(["{}"] * (MAX_BATCH_READINGS + 1)) + "]}")
    ),
    st.just(Raw('{"type":"reading","pad":"' + "x" * MAX_FRAME_BYTES + '"}')),
    json_values,
    ODD_TEXT.map(Raw),
)


# Live, most frames are batches, so that each of the few examples tries many readings.
live_frames = mostly(
    st.fixed_dictionaries(
        {
            "type": st.just("batch"),
            "readings": st.lists(reading_objects(typed=False), min_size=1, max_size=20),
        }
    ),
    frames,
)


def replies_promised(text: str) -> list[object]:
    """What each reply answers, as the contract says: a batch's readings, or the one frame."""
    if len(text) > MAX_FRAME_BYTES:
        return [None]
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [None]
    if isinstance(obj, dict) and obj.get("type") == "batch" and set(obj) == {"type", "readings"}:
        readings = obj["readings"]
        if isinstance(readings, list) and len(readings) <= MAX_BATCH_READINGS:
            return readings
    return [obj]


def sent_seq(entry: object) -> int | None:
    seq = entry.get("seq") if isinstance(entry, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def assert_stored_values_are_valid(values: dict[str, float | None]) -> None:
    kept = {name: v for name, v in values.items() if v is not None}
    assert kept, "a reading stored without a vital"
    for name, value in kept.items():
        low, high = VITAL_RANGES[name]
        assert low <= value <= high, (name, value)


# -- the parser ---------------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_every_frame_is_answered_per_reading_with_a_documented_code_or_valid_values(
    frame: object,
) -> None:
    text = render(frame, NOW)
    promised = replies_promised(text)
    items = parse_frame(text, NOW)
    assert len(items) == len(promised)
    for item, entry in zip(items, promised, strict=True):
        if isinstance(item, FrameError):
            assert item.code in CODES, item
            assert item.detail and isinstance(item.detail, str)
            assert item.seq is None or item.seq == sent_seq(entry)
            orjson.dumps(item.reply())
            continue
        assert isinstance(item, ReadingIn)
        assert item.seq == sent_seq(entry) and 0 <= item.seq <= SEQ_MAX
        assert NOW - MAX_TS_AGE <= item.ts <= NOW + FUTURE_TOLERANCE
        assert_stored_values_are_valid(item.vitals())
        assert all(r.code in CODES for r in item.rejected)
        orjson.dumps(ack(item.seq, rejected=item.rejected))


# -- the live server ----------------------------------------------------------------------------


async def test_the_live_server_answers_every_fuzzed_frame_as_promised_and_stores_nothing_invalid(
    clinic: Clinic,
) -> None:
    token, device_id, _ = await clinic.add_device()
    loop = asyncio.get_running_loop()
    acked: set[int] = set()
    started = datetime.now(UTC)
    sentinel = iter(range(10**15, 10**15 + 10**6))

    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)

        async def exchange(text: str, binary: bool) -> tuple[list[dict[str, Any]], int]:
            await (conn.send(text.encode()) if binary else device.send(text))
            promised = 1 if binary else len(replies_promised(text))
            replies = [await device.recv() for _ in range(promised)]
            # The next reply is the sentinel's: nothing more was sent for the frame.
            seq = next(sentinel)
            assert await device.reading(seq=seq, ts=datetime.now(UTC).isoformat(), hr=70) == {
                "type": "ack",
                "seq": seq,
            }
            return replies, seq

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(live_frames, st.integers(0, 19))
        def fuzz(frame: object, binary_one_in: int) -> None:
            text = render(frame, datetime.now(UTC))
            binary = binary_one_in == 7  # not an end of the range, which Hypothesis favours
            replies, seq = asyncio.run_coroutine_threadsafe(exchange(text, binary), loop).result(30)
            acked.add(seq)
            entries = [None] if binary else replies_promised(text)
            for reply, entry in zip(replies, entries, strict=True):
                if reply["type"] == "ack":
                    assert reply["seq"] == sent_seq(entry)
                    acked.add(reply["seq"])
                    assert all(r["code"] in CODES for r in reply.get("rejected", []))
                    continue
                assert reply["type"] == "error", reply
                assert reply["code"] in CODES, reply
                # The database is up and validation took only what it stores.
                assert reply["code"] not in ("storage_unavailable", "rejected_by_storage"), reply
                assert reply["seq"] is None or reply["seq"] == sent_seq(entry)

        await asyncio.to_thread(fuzz)

    async with httpx.AsyncClient(base_url=clinic.server.url) as client:
        assert (await client.get("/api/health")).status_code == 200
    rows = await clinic.query(
        "SELECT seq, measured_at, sbp, dbp, map, hr, spo2, rr, etco2 FROM reading "
        "WHERE device_id = :d",
        d=device_id,
    )
    assert {row.seq for row in rows} == acked  # every ack stored, nothing else
    for row in rows:
        assert 0 <= row.seq <= SEQ_MAX
        measured = row.measured_at
        if isinstance(measured, str):  # SQLite through a plain query: naive UTC text
            measured = datetime.fromisoformat(measured).replace(tzinfo=UTC)
        assert started - MAX_TS_AGE - timedelta(seconds=1) <= measured
        assert measured <= datetime.now(UTC) + FUTURE_TOLERANCE
        assert_stored_values_are_valid({name: getattr(row, name) for name in VITALS})
