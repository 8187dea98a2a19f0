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


def test_rows_the_ingest_would_reject_are_reported_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t_s,sbp,dbp,map,hr,spo2\n0,40,18,29,,\n5,120,130,125,,\n9,,,,abc,\n10,,,,72,98\n",
    )
    rejected: list[tuple[float, str, str]] = []
    rows = list(
        read_trace(path, on_reject=lambda t, code, detail: rejected.append((t, code, detail)))
    )
    assert rows == [TraceRow(10, hr=72, spo2=98)]
    assert rejected == [
        (0.0, "out_of_range", "dbp 18 is outside the plausible range 20-200 mmHg"),
        (5.0, "dbp_not_below_sbp", "diastolic 130 is not below systolic 120"),
        (9.0, "invalid_value", "hr must be a number, got 'abc'"),
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
    rows += [f"{t},300,18,100,," for t in (10, 20, 30)]
    path = write(tmp_path, "\n".join(rows) + "\n")
    rejected: list[float] = []
    events = list(run_offline(path, on_reject=lambda t, _code, _detail: rejected.append(t)))
    assert rejected == [10.0, 20.0, 30.0]
    assert [(e["t_s"], e["rule"]) for e in events if e["event"] == "raised"] == [
        (30.0, "rejected_readings")
    ]
