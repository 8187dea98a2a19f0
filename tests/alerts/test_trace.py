"""Trace files: parsing like the ingest, ticking like the live service, deterministic replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.alerts import DoseMarked, Reading, ReadingRejected, SessionSetup, Tick, default_rules, run
from app.trace import (
    GapRow,
    RejectedRow,
    TraceError,
    TraceRow,
    read_trace,
    run_offline,
    scan_trace,
    trace_inputs,
)
from app.wire import VitalRejected
from tests.alerts import courses


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_are_read_with_blank_cells_absent_and_empty_rows_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "t_s,sbp,dbp,map,hr,spo2\n0,,,,72,98\n60,,,,,\n\n120,132,84,100,,\n")
    assert list(read_trace(path)) == [
        TraceRow(0, hr=72, spo2=98),
        TraceRow(120, sbp=132, dbp=84, map=100),
    ]


def test_rows_with_no_valid_vital_left_are_reported_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t_s,sbp,dbp,map,hr,spo2\n0,,5,,,\n5,120,130,125,,\n9,,,,abc,\n10,,,,72,98\n",
    )
    rejected: list[tuple[float, str, str]] = []
    rows = list(
        read_trace(path, on_reject=lambda t, code, detail: rejected.append((t, code, detail)))
    )
    assert rows == [TraceRow(10, hr=72, spo2=98)]
    assert rejected == [
        (0.0, "out_of_range", "dbp 5 is outside the plausible range 10-245 mmHg"),
        (5.0, "dbp_not_below_sbp", "diastolic 130 is not below systolic 120"),
        (9.0, "invalid_value", "hr must be a number, got 'abc'"),
    ]


def test_a_row_keeps_its_valid_cells_and_reports_each_dropped_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t_s,sbp,dbp,map,hr,spo2\n"
        "0,120,130,125,72,98\n"  # BP inconsistent: the three BP cells go, HR and SpO2 stay
        "5,130,85,100,x,101\n"  # HR not a number, SpO2 over 100: BP stays
        "10,96,64,76,,41.9\n",  # a deep desaturation is a measurement, not an error
    )
    dropped: list[tuple[float, str, str]] = []
    rows = list(
        read_trace(
            path,
            on_reject=lambda *_: pytest.fail("no row is left without a valid vital"),
            on_drop=lambda t, vital, code, _detail: dropped.append((t, vital, code)),
        )
    )
    assert [(r.t_s, r.sbp, r.dbp, r.map, r.hr, r.spo2) for r in rows] == [
        (0.0, None, None, None, 72.0, 98.0),
        (5.0, 130.0, 85.0, 100.0, None, None),
        (10.0, 96.0, 64.0, 76.0, None, 41.9),
    ]
    assert dropped == [
        (0.0, "sbp", "dbp_not_below_sbp"),
        (0.0, "dbp", "dbp_not_below_sbp"),
        (0.0, "map", "dbp_not_below_sbp"),
        (5.0, "hr", "invalid_value"),
        (5.0, "spo2", "out_of_range"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,sbp\n0,120\n", "the header must be t_s,sbp,dbp,map,hr,spo2"),
        ("t_s,sbp,dbp,map,hr,spo2\n10,,,,72,98\n5,,,,72,98\n", ":3: t_s 5 goes back in time"),
        ("t_s,sbp,dbp,map,hr,spo2\nnow,,,,72,98\n", ":2: t_s 'now' is not a number"),
        ("t_s,sbp,dbp,map,hr,spo2\n0,,72,98\n", ":2: expected 6 cells, got 4"),
    ],
)
def test_a_file_that_is_not_a_trace_is_refused_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(TraceError, match=message):
        list(scan_trace(write(tmp_path, text)))


def test_the_clock_ticks_every_whole_second_between_rows_and_the_dose_comes_in_order() -> None:
    rows: list[TraceRow | RejectedRow | GapRow] = [
        TraceRow(0, hr=72),
        GapRow(2.5),
        RejectedRow(4, "out_of_range", ""),
        TraceRow(5, hr=73),
    ]
    assert list(trace_inputs(iter(rows), dose_at=2.0)) == [
        Reading(0, hr=72),
        Tick(1.0),
        Tick(2.0),
        DoseMarked(2.0),
        Tick(2.5),
        Tick(3.0),
        ReadingRejected(4, "out_of_range"),
        Reading(5, hr=73),
    ]


def test_a_row_with_a_dropped_cell_feeds_its_reading_then_one_rejection() -> None:
    dropped = (VitalRejected("hr", "out_of_range", ""), VitalRejected("spo2", "invalid_value", ""))
    rows = [TraceRow(0, hr=72), TraceRow(1, sbp=120, dbp=80, dropped=dropped)]
    assert list(trace_inputs(iter(rows), dose_at=None)) == [
        Reading(0, hr=72),
        Reading(1, sbp=120, dbp=80),
        ReadingRejected(1, "out_of_range"),
    ]


def test_a_reading_at_the_dose_time_is_pre_dose() -> None:
    rows = [TraceRow(0, hr=72), TraceRow(1, sbp=120, dbp=80), TraceRow(2, hr=72)]
    assert list(trace_inputs(iter(rows), dose_at=1.0))[1:3] == [
        Reading(1, sbp=120, dbp=80),
        DoseMarked(1.0),
    ]


@pytest.mark.parametrize("course", [courses.artefacts, courses.desaturation, courses.vasovagal])
def test_offline_replay_raises_the_same_events_at_the_same_times_as_live(
    tmp_path: Path, course: courses.CourseFactory
) -> None:
    inputs = course().build()
    courses.write_trace(inputs, tmp_path / "course.csv")
    live = run(
        SessionSetup("spravato", 0.0, None, default_rules("spravato")), courses.with_dose(inputs)
    )
    offline = list(run_offline(tmp_path / "course.csv", "spravato", dose_at=courses.DOSE_AT))
    assert offline == [event.to_json_dict() for event in live]


def test_offline_replay_output_is_deterministic_json_lines(tmp_path: Path) -> None:
    courses.write_trace(courses.hypertensive().build(), tmp_path / "course.csv")
    lines = [
        [
            json.dumps(e, ensure_ascii=False)
            for e in run_offline(tmp_path / "course.csv", dose_at=1200)
        ]
        for _ in range(2)
    ]
    assert lines[0] == lines[1]
    assert json.loads(lines[0][0])["t_s"] == json.loads(lines[0][0])["t_s"] // 1
    assert list(json.loads(lines[0][0]))[:8] == [
        "t_s",
        "event",
        "rule",
        "vital",
        "value",
        "priority",
        "kind",
        "message",
    ]


def test_offline_session_starts_at_the_first_row_and_ends_at_the_last(tmp_path: Path) -> None:
    path = write(tmp_path, "t_s,sbp,dbp,map,hr,spo2\n1000,,,,,\n1040,,,,72,98\n1050,,,,,\n")
    events = list(run_offline(path))
    assert [(e["t_s"], e["event"], e["rule"]) for e in events] == [
        (1030.0, "raised", "no_data"),
        (1040.0, "cleared", "no_data"),
    ]


def test_offline_replay_reports_rejected_rows_and_feeds_them_to_the_engine(tmp_path: Path) -> None:
    rows = ["t_s,sbp,dbp,map,hr,spo2", *(f"{t},,,,72,98" for t in range(0, 10))]
    rows += [f"{t},310,5,,," for t in (10, 20, 30)]
    path = write(tmp_path, "\n".join(rows) + "\n")
    rejected: list[float] = []
    events = list(run_offline(path, on_reject=lambda t, _code, _detail: rejected.append(t)))
    assert rejected == [10.0, 20.0, 30.0]
    assert [(e["t_s"], e["rule"]) for e in events if e["event"] == "raised"] == [
        (30.0, "rejected_readings")
    ]


def test_rows_with_a_dropped_cell_count_as_rejected_readings_and_keep_the_rest(
    tmp_path: Path,
) -> None:
    # A cuff that keeps giving an inconsistent BP while the oximeter is fine: the BP is
    # dropped each time (three in a minute: the technical alert), HR and SpO2 are data.
    rows = ["t_s,sbp,dbp,map,hr,spo2", *(f"{t},,,,72,98" for t in range(0, 40))]
    rows[11], rows[21], rows[31] = (f"{t},120,130,125,72,98" for t in (10, 20, 30))
    path = write(tmp_path, "\n".join(rows) + "\n")
    dropped: list[tuple[float, str]] = []
    events = list(
        run_offline(path, on_drop=lambda t, vital, _code, _detail: dropped.append((t, vital)))
    )
    assert dropped == [(t, v) for t in (10.0, 20.0, 30.0) for v in ("sbp", "dbp", "map")]
    assert [(e["t_s"], e["event"], e["rule"]) for e in events] == [
        (30.0, "raised", "rejected_readings")
    ]
    assert events[0]["message"] == "3 readings rejected in 1 min (last: dbp_not_below_sbp)"
