"""Real ICU recordings (PhysioNet; tests/data/traces/README.md) replayed offline through the engine.

The 1-minute numerics files have one HR/SpO2 sample a minute, where a chair monitor sends one a
second; with the default 30 s no-data window they would raise no_data every minute, which is
right for a live feed but says nothing here. Those replays therefore set the no-data window to
90 s (one missing sample), which is also the longest gap over which persistence is counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from app.alerts import RuleSet, default_rules
from app.trace import run_offline
from tests.support import TRACES


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
    return default_rules(protocol).with_overrides({"no_data": {"threshold": 90}})


def raised(events: list[dict[str, Any]], kind: str = "physiological") -> list[tuple[float, str]]:
    return [(e["t_s"], e["rule"]) for e in events if e["event"] == "raised" and e["kind"] == kind]


def test_hypotensive_tachycardic_mimicdb_patient_raises_sbp_low_and_hr_high() -> None:
    events, rejected = replay(TRACES / "mimicdb_03700181_abp_derived_15s.csv")
    # SBP ~45 (MAP ~34) is hypotension from the first reading: one BP reading is enough.
    # HR 121-123 holds over consecutive 15 s samples: hr_high once 15 s have passed.
    # Nobody acknowledges, so both medium alerts escalate after 2 min; the pressure never
    # recovers, so neither clears. Every value is plausible: nothing is rejected.
    assert [(e["t_s"], e["event"], e["rule"]) for e in events] == [
        (0.0, "raised", "sbp_low"),
        (15.0, "raised", "hr_high"),
        (120.0, "escalated", "sbp_low"),
        (135.0, "escalated", "hr_high"),
    ]
    assert events[0]["value"] == 49.2 and events[0]["message"] == "SBP 49.2 ≤ 90 mmHg"
    assert rejected == []


def test_hypotensive_mimicdb_patient_under_iv_ketamine_limits_raises_the_same_alerts() -> None:
    events, _ = replay(TRACES / "mimicdb_03700181_abp_derived_15s.csv", protocol="iv-ketamine")
    assert raised(events) == [(0.0, "sbp_low"), (15.0, "hr_high")]
    assert events[1]["message"] == "HR 123 ≥ 110/min for 15 s"


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


def test_messy_s25047_rejects_implausible_values_and_raises_spo2_critical() -> None:
    events, rejected = replay(TRACES / "mimic2_s25047_numerics_1min.csv", rules=minute_rules())
    # The ingest's plausibility ranges reject cuff artefacts such as 40/18 and 74/10 and
    # SpO2 readings below 50 %; those rows never reach the alert rules.
    assert [(t, code, detail.split(" is ")[0]) for t, code, detail in rejected] == [
        (420.0, "out_of_range", "dbp 10"),
        (1980.0, "out_of_range", "dbp 18"),
        (2460.0, "out_of_range", "spo2 42.9"),
        (3300.0, "out_of_range", "dbp 18"),
        (3420.0, "out_of_range", "spo2 41.9"),
        (4200.0, "out_of_range", "spo2 36"),
        (4260.0, "out_of_range", "spo2 36"),
    ]
    # An unstable patient: repeated hypotension (87/46, 66/20, 88/37, 77/37), a diastolic of
    # 118 (high, dbp_critical), SpO2 falling from 92 to 71 (spo2_low) and staying at 51-57
    # a minute later (spo2_critical, high, superseding spo2_low), and a systolic of 160.
    assert raised(events) == [
        (120.0, "sbp_low"),
        (1440.0, "dbp_critical"),
        (1920.0, "sbp_low"),
        (2340.0, "sbp_low"),
        (2400.0, "spo2_low"),
        (2580.0, "spo2_critical"),
        (3060.0, "sbp_low"),
        (3120.0, "sbp_high"),
    ]
    superseded = [(e["t_s"], e["rule"]) for e in events if e["event"] == "superseded"]
    assert superseded == [(2580.0, "spo2_low")]
    # High alerts latch: SpO2 recovers to 97-100 and DBP falls, yet both stay open unacknowledged.
    cleared = {e["rule"] for e in events if e["event"] == "cleared"}
    assert not cleared & {"spo2_critical", "dbp_critical"}
    # Cuff readings come irregularly (gaps up to 11 min): BP is overdue four times.
    assert Counter(r for _, r in raised(events, "technical"))["bp_overdue"] == 4


def test_s00001_day_and_a_half_raises_few_physiological_alerts_all_medium() -> None:
    events, rejected = replay(TRACES / "mimic2_s00001_numerics_1min.csv", rules=minute_rules())
    # A stable ICU patient over 32 h: two systolic peaks above 160 and two spells of HR
    # below 50 for over a minute; each clears. HR 11.5 and MAP 25.3 are implausible.
    assert raised(events) == [
        (10320.0, "sbp_high"),
        (62580.0, "sbp_high"),
        (85620.0, "hr_low"),
        (96840.0, "hr_low"),
    ]
    assert all(e["priority"] != "high" for e in events)
    assert [(t, code) for t, code, _ in rejected] == [
        (83340.0, "out_of_range"),
        (115380.0, "out_of_range"),
    ]
    # Hourly cuff readings outside the 5-10 min sections: each hour the BP is overdue once,
    # and each time the next reading clears it.
    counts = Counter((e["event"], e["rule"]) for e in events if e["rule"] == "bp_overdue")
    assert counts == {("raised", "bp_overdue"): 124, ("cleared", "bp_overdue"): 124}
    # Two 21 min pauses in the numerics (the second broken only by the rejected HR of 11.5),
    # a 2 min gap just after the first, the minute lost to the rejected MAP of 25.3, and the
    # last two minutes of the record.
    assert [t for t, rule in raised(events, "technical") if rule == "no_data"] == [
        35490.0,
        36750.0,
        82950.0,
        115410.0,
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
        (10320.0, "raised", "sbp_high"),
        (10440.0, "escalated", "sbp_high"),
        (10500.0, "cleared", "sbp_high"),
    ]
