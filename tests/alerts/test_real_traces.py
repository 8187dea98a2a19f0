"""Real ICU recordings (PhysioNet; tests/data/traces/README.md) replayed offline through the engine.

The 1-minute numerics files have one HR/SpO2 sample a minute, where a chair monitor sends one a
second; with the default 30 s no-data window they would raise no_data every minute, which is
right for a live feed but says nothing here. Those replays therefore set the no-data window and
the lost-vital windows to 90 s (one missing sample); the lost-vital window is also the longest
gap in a vital over which persistence is counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from app.alerts import RuleSet, default_rules
from app.trace import read_trace, run_offline
from tests.support import TRACES

S25047 = TRACES / "mimic2_s25047_numerics_1min.csv"


def replay(
    path: Path, *, rules: RuleSet | None = None, **options: Any
) -> tuple[list[dict[str, Any]], list[tuple[float, str, str]]]:
    rejected: list[tuple[float, str, str]] = []
    events = list(
        run_offline(
            path,
            rules=rules,
            on_reject=lambda t, code, detail: rejected.append((t, code, detail)),
            **options,
        )
    )
    return events, rejected


def minute_rules(protocol: str = "spravato") -> RuleSet:
    windows = {"threshold": 90}
    return default_rules(protocol).with_overrides(
        {"no_data": windows, "hr_lost": windows, "spo2_lost": windows}
    )


def raised(events: list[dict[str, Any]], kind: str = "physiological") -> list[tuple[float, str]]:
    return [(e["t_s"], e["rule"]) for e in events if e["event"] == "raised" and e["kind"] == kind]


def test_hypotensive_tachycardic_mimicdb_patient_alarms_high_for_sbp_and_map() -> None:
    events, rejected = replay(TRACES / "mimicdb_03700181_abp_derived_15s.csv")
    # SBP ~45 (MAP ~34) for 10 minutes: severe hypotension from the first reading, at high
    # priority on both the systolic (≤ 80) and the mean (≤ 50); the medium sbp_low is not
    # raised beside it. HR 121-123 holds over consecutive 15 s samples: hr_high once 15 s
    # have passed, escalating after 2 min unacknowledged. High alerts do not escalate (they
    # are already immediate) and latch. Every value is plausible: nothing is rejected.
    assert [(e["t_s"], e["event"], e["rule"], e["priority"]) for e in events] == [
        (0.0, "raised", "sbp_critical_low", "high"),
        (0.0, "raised", "map_critical_low", "high"),
        (15.0, "raised", "hr_high", "medium"),
        (135.0, "escalated", "hr_high", "medium"),
    ]
    assert events[0]["value"] == 49.2 and events[0]["message"] == "SBP 49.2 ≤ 80 mmHg"
    assert events[1]["message"] == "MAP 36.6 ≤ 50 mmHg"
    assert rejected == []


def test_hypotensive_mimicdb_patient_under_iv_ketamine_limits_raises_the_same_alerts() -> None:
    events, _ = replay(TRACES / "mimicdb_03700181_abp_derived_15s.csv", protocol="iv-ketamine")
    assert raised(events) == [
        (0.0, "sbp_critical_low"),
        (0.0, "map_critical_low"),
        (15.0, "hr_high"),
    ]
    assert events[2]["message"] == "HR 123 ≥ 110/min for 15 s"


def test_s00001_arterial_segment_raises_only_no_data_over_its_gaps() -> None:
    events, rejected = replay(TRACES / "mimic2_s00001_abp_derived_15s.csv")
    # BP 114-156/54-79 and HR 55-72 stay inside every limit. The first minute and the 60 s
    # between waveform segments have no valid beats: a live screen must say "no data" then.
    assert [(e["t_s"], e["event"], e["rule"]) for e in events] == [
        (115455.0, "raised", "no_data"),
        (115485.0, "cleared", "no_data"),
        (115620.0, "raised", "no_data"),
        (115680.0, "cleared", "no_data"),
    ]
    assert rejected == []


def test_messy_s25047_keeps_every_value_a_monitor_reports_and_raises_spo2_critical() -> None:
    events, rejected = replay(S25047, rules=minute_rules())
    # Every value is inside what bedside monitors measure: the cuff's 40/18 and 74/10 and
    # SpO2 down to 36 % all reach the alert rules (they were rejected under the old ranges).
    assert rejected == []
    # An unstable patient: hypotension at 87/46, then 86/22 (MAP 44, high) and 74/10 (SBP
    # ≤ 80, high, superseding sbp_low); the high alerts latch unacknowledged, so the later
    # low pressures (66/20, 45/18, 88/37, 77/37, 40/18) raise nothing new beside them. A
    # diastolic of 118 (high, dbp_critical). Single minute samples of SpO2 89.5 and 88.2 and
    # of HR 44.7 each stand for their minute (spo2_low, hr_low, cleared by the next), then
    # SpO2 falling from 92 to 71 (spo2_critical within its 10 s, superseding spo2_low), and
    # a systolic of 160.
    assert raised(events) == [
        (120.0, "sbp_low"),
        (360.0, "map_critical_low"),
        (420.0, "sbp_critical_low"),
        (915.0, "spo2_low"),
        (1440.0, "dbp_critical"),
        (2175.0, "spo2_low"),
        (2235.0, "hr_low"),
        (2355.0, "spo2_low"),
        (2410.0, "spo2_critical"),
        (3120.0, "sbp_high"),
    ]
    critical = next(e for e in events if e["rule"] == "spo2_critical")
    assert (critical["value"], critical["priority"]) == (71.1, "high")
    superseded = [(e["t_s"], e["rule"]) for e in events if e["event"] == "superseded"]
    assert superseded == [(420.0, "sbp_low"), (2410.0, "spo2_low")]
    # The last minutes' SpO2 of 36 % is data: the no-data alert of the gap before it clears.
    assert (4200.0, "cleared", "no_data") in [(e["t_s"], e["event"], e["rule"]) for e in events]
    # High alerts latch: SpO2 recovers to 97-100 and DBP falls, yet both stay open unacknowledged.
    cleared = {e["rule"] for e in events if e["event"] == "cleared"}
    assert not cleared & {"spo2_critical", "dbp_critical"}
    # Cuff readings come irregularly (gaps up to 11 min). The session sets no cuff cycle, so
    # after a 10 min gap the engine expects up to 10 min: BP is overdue twice (four times
    # with the session's interval set to 5 min). HR stops for the last 27 min while SpO2
    # goes on: HR is lost once, and stays lost.
    technical = Counter(r for _, r in raised(events, "technical"))
    assert (technical["bp_overdue"], technical["hr_lost"]) == (2, 1)
    five_min, _ = replay(S25047, rules=minute_rules(), nibp_cycle_s=300.0)
    assert Counter(r for _, r in raised(five_min, "technical"))["bp_overdue"] == 4


def test_s00001_day_and_a_half_raises_few_physiological_alerts_all_medium() -> None:
    events, rejected = replay(TRACES / "mimic2_s00001_numerics_1min.csv", rules=minute_rules())
    # A stable ICU patient over 32 h: two systolic peaks above 160, three spells of HR below
    # 50 (one a single minute sample of 48, which stands for its minute) and one minute of
    # SpO2 91.9; each clears. HR 11.5 is below what any monitor measures; MAP 25.3 (alone, the
    # minute before the arterial line's numerics start) is a measurable mean, and at that
    # level the one high alert: MAP ≤ 50 on one reading, as a monitor alarms on one.
    assert raised(events) == [
        (10320.0, "sbp_high"),
        (62580.0, "sbp_high"),
        (85575.0, "hr_low"),
        (96795.0, "hr_low"),
        (100335.0, "hr_low"),
        (115215.0, "spo2_low"),
        (115380.0, "map_critical_low"),
    ]
    assert [e["rule"] for e in events if e["priority"] == "high"] == ["map_critical_low"]
    assert [(t, code) for t, code, _ in rejected] == [(83340.0, "out_of_range")]
    # The session sets no cuff cycle: the engine follows the cuff's own (5 min, 10 min,
    # hourly) and BP is overdue only when a reading comes later than that (5 times, once
    # per late reading; test_real_trace_alarms.py), not every hour (124 before).
    counts = Counter((e["event"], e["rule"]) for e in events if e["rule"] == "bp_overdue")
    assert counts == {("raised", "bp_overdue"): 5, ("cleared", "bp_overdue"): 5}
    # Two 21 min pauses in the numerics (the second broken only by the rejected HR of 11.5),
    # a 2 min gap just after the first, and the last two minutes of the record. (The minute
    # with MAP 25.3 keeps its HR and SpO2: no gap there.)
    assert [t for t, rule in raised(events, "technical") if rule == "no_data"] == [
        35490.0,
        36750.0,
        82950.0,
        116070.0,
    ]


def test_s00001_slice_as_a_spravato_session_raises_one_medium_bp_alert(tmp_path: Path) -> None:
    # The README's chair-session slice (t 3900-10500, NIBP every 5 min), dosed at 5700 after
    # 30 min of readings: baseline SBP 138. The 167 at 10320 is +29 (below the marked-rise
    # +40) but above the absolute 160: one medium alert, which clears at the next reading.
    lines = (TRACES / "mimic2_s00001_numerics_1min.csv").read_text().splitlines()
    rows = [line for line in lines[1:] if 3900 <= float(line.split(",")[0]) <= 10500]
    path = tmp_path / "slice.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    events, _ = replay(path, rules=minute_rules(), dose_at=5700)
    assert [(e["t_s"], e["event"], e["rule"]) for e in events] == [
        (6600.0, "raised", "observation_due"),  # no nurse's observation in a monitor's trace
        (10320.0, "raised", "sbp_high"),
        (10440.0, "escalated", "sbp_high"),
        (10500.0, "cleared", "sbp_high"),
    ]


def test_s25047_final_desaturation_to_36_percent_alarms_instead_of_showing_no_data(
    tmp_path: Path,
) -> None:
    # The record's last 8 minutes: SpO2 96, 95.6, five minutes without a value, then 36 and
    # 36. A screen that dropped 36 % as implausible said "no data" to the end; now the values
    # end the no-data alert and raise the high SpO2 alert.
    path = trace_slice(tmp_path, TRACES / "mimic2_s25047_numerics_1min.csv", 3780, 4260)
    events, rejected = replay(path, rules=minute_rules())
    assert rejected == []
    moments = [(e["t_s"], e["event"], e["rule"]) for e in events]
    assert (3930.0, "raised", "no_data") in moments
    assert (4200.0, "cleared", "no_data") in moments
    critical = [e for e in events if e["event"] == "raised" and e["rule"] == "spo2_critical"]
    assert [(e["value"], e["priority"]) for e in critical] == [(36, "high")]
    assert 4200.0 <= critical[0]["t_s"] <= 4260.0


def test_s25047_bp_of_96_64_with_spo2_41_9_is_kept_whole() -> None:
    rows = {row.t_s: row for row in read_trace(TRACES / "mimic2_s25047_numerics_1min.csv")}
    row = rows[3420.0]
    assert (row.sbp, row.dbp, row.map, row.spo2, row.dropped) == (96, 64, 76, 41.9, ())
    low = sorted(r.spo2 for r in rows.values() if r.spo2 is not None and r.spo2 < 70)
    assert low == [36, 36, 41.9, 42.9, 50.8, 57.4, 63, 64.8]


def trace_slice(tmp_path: Path, source: Path, start: float, end: float) -> Path:
    lines = source.read_text().splitlines()
    rows = [line for line in lines[1:] if start <= float(line.split(",")[0]) <= end]
    path = tmp_path / "slice.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    return path
