"""Threshold rules: persistence on 1 Hz vitals, one NIBP reading, rise over the baseline."""

from __future__ import annotations

import pytest

from app.alerts import Baseline, DoseMarked, Reading, ReadingRejected, Tick
from tests.alerts.sessions import Session, brief, nibp, oximetry, vital_rules


def test_single_spo2_dip_of_five_seconds_raises_nothing() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 59), oximetry(60, 64, spo2=80), oximetry(65, 200))
    assert session.events == []


def test_spo2_at_88_for_ten_seconds_raises_spo2_critical_with_the_nurses_message() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 59))
    events = session.feed(oximetry(60, 70, spo2=87))
    assert brief(events) == [(70.0, "raised", "spo2_critical")]
    assert events[0].message == "SpO2 87 % ≤ 88 % for 10 s"
    assert events[0].priority == "high"


def test_spo2_at_92_for_fifteen_seconds_raises_spo2_low() -> None:
    session = Session(rules=vital_rules())
    assert session.feed(oximetry(0, 14, spo2=92)) == []
    assert brief(session.feed(oximetry(15, 15, spo2=92))) == [(15.0, "raised", "spo2_low")]


def test_one_normal_sample_restarts_the_persistence_count() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 12, hr=125), oximetry(13, 13, hr=110), oximetry(14, 27, hr=125))
    assert session.events == []
    assert brief(session.feed(oximetry(28, 29, hr=125))) == [(29.0, "raised", "hr_high")]


def test_hr_alert_clears_only_after_fifteen_seconds_below_the_clear_limit() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 15, hr=125))
    assert session.feed(oximetry(16, 30, hr=112)) == []
    assert brief(session.feed(oximetry(31, 31, hr=112))) == [(31.0, "cleared", "hr_high")]
    assert session.events[-1].message == "Cleared: HR 112 < 115/min for 15 s"


def test_hr_back_between_limit_and_clear_limit_keeps_the_alert() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 15, hr=125), oximetry(16, 100, hr=117))
    assert brief(session.events) == [(15.0, "raised", "hr_high")]


@pytest.mark.parametrize(
    ("hr", "rule", "after"),
    [(140, "hr_critical_high", 10), (50, "hr_low", 15), (40, "hr_critical_low", 10)],
)
def test_each_hr_limit_raises_after_its_persistence(hr: float, rule: str, after: int) -> None:
    session = Session(rules=vital_rules())
    events = session.feed(oximetry(0, after, hr=hr))
    assert brief(events) == [(float(after), "raised", rule)]


def test_samples_further_apart_than_the_no_data_window_do_not_prove_persistence() -> None:
    session = Session(rules=vital_rules())
    session.feed(Reading(0, spo2=86), Reading(31, spo2=86))
    assert session.events == []
    assert brief(session.feed(Reading(41, spo2=86))) == [(41.0, "raised", "spo2_critical")]


def test_a_late_sample_cannot_extend_a_run_already_seen_past_it() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 5, spo2=86), Tick(30), Reading(4.5, spo2=86))
    assert session.events == []


@pytest.mark.parametrize(
    ("reading", "rule"),
    [
        (nibp(10, 181), "sbp_critical"),
        (nibp(10, 150, 110), "dbp_critical"),
        (nibp(10, 160), "sbp_high"),
        (nibp(10, 150, 100), "dbp_high"),
        (nibp(10, 90, 60), "sbp_low"),
    ],
)
def test_each_nibp_limit_raises_on_one_reading(reading: Reading, rule: str) -> None:
    session = Session(rules=vital_rules())
    assert brief(session.feed(reading)) == [(10.0, "raised", rule)]


def test_a_dangerous_pre_dose_bp_alarms_before_the_dose() -> None:
    session = Session(rules=vital_rules())
    assert brief(session.feed(nibp(10, 185))) == [(10.0, "raised", "sbp_critical")]
    assert session.state.dose_at is None


def test_baseline_is_the_median_of_the_30_minutes_before_the_dose() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(0, 150, 95))  # more than 30 min before the dose: not in the baseline
    session.feed(nibp(1000, 118, 76), nibp(1300, 124, 80), nibp(1600, 121, 79))
    session.feed(oximetry(1700, 1800, hr=70), DoseMarked(1850))
    assert session.state.baseline == Baseline(sbp=121, dbp=79, hr=70)


def test_rise_rules_stay_off_before_the_dose() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(0, 110, 70), nibp(300, 152, 94))
    assert session.events == []


def test_sbp_rise_of_40_over_baseline_raises_after_the_dose() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(0, 110, 70), DoseMarked(100))
    assert session.feed(nibp(400, 149, 80)) == []
    events = session.feed(nibp(700, 150, 80))
    assert brief(events) == [(700.0, "raised", "sbp_rise")]
    assert events[0].message == "SBP 150 mmHg: +40 from baseline 110 (≥ +40)"
    cleared = session.feed(nibp(730, 141, 80), nibp(760, 140, 80), nibp(790, 139, 80))
    assert brief(cleared) == [(790.0, "cleared", "sbp_rise")]  # clears below baseline + 30


def test_dbp_rise_of_25_over_baseline_raises_after_the_dose() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(0, 110, 60), DoseMarked(100))
    assert brief(session.feed(nibp(400, 130, 85))) == [(400.0, "raised", "dbp_rise")]


def test_without_a_baseline_rise_rules_stay_off() -> None:
    session = Session(rules=vital_rules())
    session.feed(DoseMarked(100), nibp(400, 90 + 60, 60 + 30))
    assert session.events == []


def test_absolute_limit_outranks_the_rise_on_the_same_reading() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(0, 118, 70), DoseMarked(100))
    assert brief(session.feed(nibp(400, 166, 80))) == [(400.0, "raised", "sbp_high")]


def test_iv_ketamine_hr_limit_is_110() -> None:
    session = Session("iv-ketamine", rules=vital_rules("iv-ketamine"))
    events = session.feed(oximetry(0, 15, hr=112))
    assert brief(events) == [(15.0, "raised", "hr_high")]
    assert events[0].message == "HR 112 ≥ 110/min for 15 s"


def live(readings: list[Reading], start: int, end: int) -> list[Reading | Tick]:
    """``readings`` with the clock ticking every second, as the live service sends it."""
    by_t = {r.t: r for r in readings}
    out: list[Reading | Tick] = []
    for t in range(start, end + 1):
        if float(t) in by_t:
            out.append(by_t[float(t)])
        out.append(Tick(float(t)))
    return out


@pytest.mark.parametrize("missing", [67, 74, 75], ids=["middle", "last-but-one", "last"])
def test_a_15_s_condition_with_one_missing_sample_still_raises_at_15_s(missing: int) -> None:
    session = Session(rules=vital_rules())
    samples = [r for r in oximetry(0, 80) if r.t != missing]
    low = [Reading(r.t, hr=72, spo2=91) if r.t >= 60 else r for r in samples]
    session.feed(live(low, 0, 80))
    assert brief(session.events) == [(75.0, "raised", "spo2_low")]


def test_a_rejected_sample_inside_a_sustained_condition_does_not_restart_the_count() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 59), oximetry(60, 66, hr=125))
    session.feed(ReadingRejected(67, "out_of_range"), oximetry(68, 80, hr=125))
    assert brief(session.events) == [(75.0, "raised", "hr_high")]


def test_the_clock_completes_a_persistence_between_sparse_samples() -> None:
    # A vital sampled every 20 s (inside the 30 s lost window): the low value stands until
    # the next sample is due, so the high alert comes 10 s after it, not at the next sample.
    session = Session(rules=vital_rules())
    session.feed(Reading(float(t), spo2=97) for t in range(0, 60, 20))
    session.feed(Reading(60, spo2=86))
    assert session.ticks(61, 69) == []
    assert brief(session.ticks(70, 79)) == [(70.0, "raised", "spo2_critical")]


def test_a_low_value_does_not_stand_once_the_next_sample_is_overdue() -> None:
    # SpO2 dips for 3 s and the probe comes off (HR goes on): no desaturation alarm.
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 59), oximetry(60, 62, spo2=80))
    session.feed(Reading(float(t), hr=72) for t in range(63, 120))
    assert session.events == []


def test_the_lost_window_is_the_longest_gap_over_which_persistence_is_counted() -> None:
    rules = vital_rules().with_overrides({"spo2_lost": {"threshold": 45}})
    session = Session(rules=rules)
    session.feed(Reading(0, spo2=86), Reading(40, spo2=86))
    assert brief(session.events) == [(40.0, "raised", "spo2_critical")]
    session = Session(rules=rules)
    session.feed(Reading(0, spo2=86), Reading(45, spo2=86))
    assert session.events == []


@pytest.mark.parametrize(
    ("reading", "rule", "priority"),
    [
        (nibp(10, 80, 60), "sbp_critical_low", "high"),
        (Reading(10, sbp=100, dbp=42, map=60), "map_low", "medium"),
        (Reading(10, sbp=100, dbp=30, map=50), "map_critical_low", "high"),
        (Reading(10, map=48), "map_critical_low", "high"),  # a cuff may report MAP alone
    ],
)
def test_low_blood_pressure_tiers_alarm_on_one_reading(
    reading: Reading, rule: str, priority: str
) -> None:
    session = Session(rules=vital_rules())
    (event,) = session.feed(reading)
    assert (event.t, event.event, event.rule, event.priority) == (10.0, "raised", rule, priority)


def test_a_severe_low_sbp_supersedes_the_medium_one_and_latches() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(0, 88, 60))
    events = session.feed(nibp(300, 78, 60))
    assert brief(events) == [
        (300.0, "raised", "sbp_critical_low"),
        (300.0, "superseded", "sbp_low"),
    ]
    assert events[0].message == "SBP 78 ≤ 80 mmHg"
    # Back above 85 (the clear limit) but above sbp_low's limit too: nothing new is raised,
    # and the high alert stays displayed until acknowledged.
    assert session.feed(nibp(600, 87, 60), nibp(900, 110, 70)) == []
    assert session.open_rules() == ["sbp_critical_low"]
