"""Per-vital validation: a reading keeps every valid vital, each invalid one is dropped alone
(an inconsistent BP drops sbp, dbp and map together), the same at the ingest and in a trace."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.trace import GapRow, RejectedRow, TraceRow, scan_trace
from app.wire import (
    BP_VITALS,
    VITAL_RANGES,
    VITALS,
    FrameError,
    ReadingIn,
    ack,
    check_vitals,
    parse_reading,
    validate_vitals,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
INVALID_CELLS = ("abc", "n/a", "--", "nan", "inf", "-inf")


def in_range(name: str) -> st.SearchStrategy[float]:
    low, high = VITAL_RANGES[name]
    return (
        st.floats(low, high, allow_nan=False)
        .map(lambda v: round(v, 1))
        .filter(lambda v: low <= v <= high)
    )


def out_of_range(name: str) -> st.SearchStrategy[float]:
    low, high = VITAL_RANGES[name]
    return st.floats(max_value=low, exclude_max=True, allow_infinity=False) | st.floats(
        min_value=high, exclude_min=True, allow_infinity=False
    )


@st.composite
def vitals(draw: st.DrawFn) -> dict[str, object]:
    """Any mix of absent, plausible, implausible and non-numeric vitals."""
    out: dict[str, object] = {}
    for name in VITALS:
        kind = draw(st.sampled_from(["absent", "valid", "valid", "out_of_range", "invalid"]))
        if kind == "valid":
            out[name] = draw(in_range(name))
        elif kind == "out_of_range":
            out[name] = draw(out_of_range(name))
        elif kind == "invalid":
            out[name] = draw(st.sampled_from(["fast", True, [98]]))
    return out


def expected_outcome(sent: dict[str, object]) -> tuple[dict[str, float], dict[str, str]]:
    """What the contract says is kept, and the code each dropped vital is reported with."""
    kept: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for name, value in sent.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            dropped[name] = "invalid_value"
        elif not VITAL_RANGES[name][0] <= value <= VITAL_RANGES[name][1]:
            dropped[name] = "out_of_range"
        else:
            kept[name] = float(value)
    sbp, dbp, mean = kept.get("sbp"), kept.get("dbp"), kept.get("map")
    code = None
    if sbp is not None and dbp is not None:
        if dbp >= sbp:
            code = "dbp_not_below_sbp"
        elif mean is not None and not dbp <= mean <= sbp:
            code = "map_outside_bp"
    if code is not None:
        for name in BP_VITALS:
            if name in kept:
                del kept[name]
                dropped[name] = code
    return kept, dropped


@settings(max_examples=300, deadline=None)
@given(vitals())
def test_any_mix_of_vitals_keeps_exactly_the_valid_ones(sent: dict[str, object]) -> None:
    check = check_vitals(sent)
    kept, dropped = expected_outcome(sent)
    assert check.kept == kept
    assert {r.vital: r.code for r in check.rejected} == dropped
    assert len(check.rejected) == len(dropped)  # each dropped vital named once
    # What is kept is a reading the validator takes whole.
    if kept:
        assert validate_vitals(kept) is None


@settings(max_examples=200, deadline=None)
@given(vitals(), in_range("hr"), in_range("spo2"))
def test_a_valid_hr_and_spo2_survive_anything_wrong_with_the_bp(
    sent: dict[str, object], hr: float, spo2: float
) -> None:
    check = check_vitals({**sent, "hr": hr, "spo2": spo2})
    assert (check.kept["hr"], check.kept["spo2"]) == (hr, spo2)


@settings(max_examples=200, deadline=None)
@given(vitals(), st.integers(0, 2**31))
def test_the_ingest_acks_what_is_kept_and_errs_only_when_nothing_is(
    sent: dict[str, object], seq: int
) -> None:
    kept, dropped = expected_outcome(sent)
    result = parse_reading({"type": "reading", "seq": seq, "ts": NOW.isoformat(), **sent}, NOW)
    if not sent:
        assert isinstance(result, FrameError) and result.code == "no_vitals"
    elif not kept:
        assert isinstance(result, FrameError) and result.seq == seq
        assert result.code == check_vitals(sent).rejected[0].code
    else:
        assert isinstance(result, ReadingIn)
        assert {k: v for k, v in result.vitals().items() if v is not None} == kept
        reply = ack(seq, rejected=result.rejected)
        if dropped:
            assert [r["vital"] for r in reply["rejected"]] == [r.vital for r in result.rejected]
        else:
            assert reply == {"type": "ack", "seq": seq}  # exactly as before


@st.composite
def trace_cells(draw: st.DrawFn) -> dict[str, str]:
    cells: dict[str, str] = {}
    for name in VITALS:
        kind = draw(st.sampled_from(["blank", "valid", "valid", "out_of_range", "invalid"]))
        if kind == "valid":
            cells[name] = repr(draw(in_range(name)))
        elif kind == "out_of_range":
            cells[name] = repr(draw(out_of_range(name)))
        elif kind == "invalid":
            cells[name] = draw(st.sampled_from(INVALID_CELLS))
    return cells


@settings(max_examples=100, deadline=None)
@given(trace_cells())
def test_a_trace_row_keeps_the_same_cells_the_ingest_keeps(cells: dict[str, str]) -> None:
    line = ",".join(["0", *(cells.get(name, "") for name in VITALS)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "row.csv"
        path.write_text(",".join(["t_s", *VITALS]) + "\n" + line + "\n", encoding="utf-8")
        (row,) = scan_trace(path)
    as_sent: dict[str, object] = {}
    for name, cell in cells.items():
        try:
            as_sent[name] = float(cell)
        except ValueError:
            as_sent[name] = cell
    ingest = check_vitals(as_sent)
    if not cells:
        assert isinstance(row, GapRow)
    elif not ingest.kept:
        assert isinstance(row, RejectedRow) and row.code == ingest.rejected[0].code
    else:
        assert isinstance(row, TraceRow)
        assert {n: getattr(row, n) for n in VITALS if getattr(row, n) is not None} == ingest.kept
        assert [(d.vital, d.code) for d in row.dropped] == [
            (r.vital, r.code) for r in ingest.rejected
        ]


@pytest.mark.parametrize("spo2", [0, 12, 36, 41.9, 69.9, 100])
def test_any_spo2_an_oximeter_reports_is_kept(spo2: float) -> None:
    assert check_vitals({"spo2": spo2}).kept == {"spo2": spo2}


@pytest.mark.parametrize(
    ("vital", "value", "kept"),
    [
        ("spo2", -1, False),
        ("spo2", 100.5, False),
        ("hr", 15, True),  # the lowest ECG heart rate monitors report
        ("hr", 11.5, False),
        ("hr", 300, True),
        ("sbp", 30, True),  # a cuff's lowest systolic: shock, not an artefact to hide
        ("dbp", 10, True),
        ("map", 20, True),
        ("sbp", 301, False),
    ],
)
def test_a_value_is_kept_only_inside_what_monitors_measure(
    vital: str, value: float, kept: bool
) -> None:
    assert (vital in check_vitals({vital: value}).kept) is kept
