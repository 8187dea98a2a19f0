"""The seeded clinical courses: identical on every run, and each scenario shows what it should."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import pytest

from app.wire import validate_vitals
from simulators.clock import SimClock
from simulators.courses import (
    PROTOCOLS,
    SCENARIOS,
    SimReading,
    dose_time,
    nibp_times,
    outage_window,
    session_readings,
    write_trace_csv,
)

DURATION = 9000.0  # 2.5 h, the default session
SEEDS = (1, 2, 3)
MIN = 60.0


@cache
def session(scenario: str, protocol: str, seed: int) -> tuple[float, tuple[SimReading, ...]]:
    dose = dose_time(seed, 1)
    return dose, tuple(session_readings(scenario, protocol, seed, 1, DURATION, dose, 300.0))


def cases(*scenarios: str) -> list[tuple[str, str, int]]:
    return [(s, p, seed) for s in scenarios for p in PROTOCOLS for seed in SEEDS]


def post_dose(dose: float, readings: tuple[SimReading, ...], vital: str) -> list[tuple[float, int]]:
    """(minutes after the dose, value) of one vital."""
    return [
        ((r.t_s - dose) / MIN, getattr(r, vital)) for r in readings if getattr(r, vital) is not None
    ]


def longest_run(points: list[tuple[float, int]], holds: object) -> float:
    """Longest stretch, in seconds, of consecutive 1 Hz values for which ``holds(value)``."""
    best = run = 0
    for _minute, value in points:
        run = run + 1 if holds(value) else 0  # type: ignore[operator]
        best = max(best, run)
    return float(best)


def test_same_seed_gives_byte_identical_trace(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        dose = dose_time(42, 3)
        write_trace_csv(
            session_readings("artefacts", "spravato", 42, 3, DURATION, dose), tmp_path / name
        )
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_different_seed_or_chair_gives_different_trace(tmp_path: Path) -> None:
    write_trace_csv(session_readings("typical", "spravato", 1, 1, 3600, 1500), tmp_path / "a.csv")
    write_trace_csv(session_readings("typical", "spravato", 2, 1, 3600, 1500), tmp_path / "b.csv")
    write_trace_csv(session_readings("typical", "spravato", 1, 2, 3600, 1500), tmp_path / "c.csv")
    blobs = {(tmp_path / n).read_bytes() for n in ("a.csv", "b.csv", "c.csv")}
    assert len(blobs) == 3


def test_trace_csv_has_the_replay_header_and_blank_cells_for_absent_vitals(tmp_path: Path) -> None:
    readings = [SimReading(t_s=0.0, hr=70, spo2=98), SimReading(t_s=60.5, sbp=120, dbp=80, map=93)]
    write_trace_csv(readings, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == (
        "t_s,sbp,dbp,map,hr,spo2\n0.0,,,,70,98\n60.5,120,80,93,,\n"
    )


def test_pre_dose_baseline_is_20_to_30_minutes() -> None:
    assert all(
        1200 <= dose_time(seed, chair) <= 1800 for seed in range(20) for chair in range(1, 9)
    )


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases(*SCENARIOS))
def test_every_generated_reading_passes_ingest_validation(
    scenario: str, protocol: str, seed: int
) -> None:
    _dose, readings = session(scenario, protocol, seed)
    invalid = [r for r in readings if validate_vitals(r.vitals()) is not None]
    # The artefacts course sends an impossible HR 0 twice, on purpose (dropped at ingest).
    assert [(r.hr, r.spo2 is not None) for r in invalid] == (
        [(0, True), (0, True)] if scenario == "artefacts" else []
    )
    assert [r.t_s for r in readings] == sorted(r.t_s for r in readings)
    assert readings[-1].t_s == DURATION


def test_cuff_cycles_every_5_min_and_every_2_5_min_from_20_to_60_min_after_dose() -> None:
    times = nibp_times(DURATION, 1500, 300)
    gaps = {round(b - a): a for a, b in itertools.pairwise(times)}
    assert set(gaps) == {150, 300}
    fast = [a - 1500 for a, b in itertools.pairwise(times) if round(b - a) == 150]
    assert min(fast) >= 20 * MIN and max(fast) < 60 * MIN


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("typical", "disconnect"))
def test_typical_course_rises_modestly_peaks_at_30_to_45_min_and_settles_by_2_h(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    sbp = post_dose(dose, readings, "sbp")
    baseline = sorted(v for m, v in sbp if m < 0)[len([v for m, v in sbp if m < 0]) // 2]
    assert max(v for _m, v in sbp) < 160
    # The course peaks at 30-45 min; cuff noise can put the highest reading a little off it.
    peak_minute = max(sbp, key=lambda p: p[1])[0]
    assert 20 <= peak_minute <= 60
    assert baseline + 8 <= max(v for _m, v in sbp) <= baseline + 35
    assert all(v <= baseline + 10 for m, v in sbp if m >= 120)
    hr = post_dose(dose, readings, "hr")
    assert max(v for _m, v in hr) < 110
    assert min(v for _m, v in post_dose(dose, readings, "spo2")) > 93


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("marked-rise"))
def test_marked_rise_reaches_160_and_40_over_baseline_but_never_180(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    sbp = post_dose(dose, readings, "sbp")
    baseline = min(v for m, v in sbp if m < 0)
    top = max(v for _m, v in sbp)
    assert 160 <= top < 180
    assert top >= baseline + 38
    assert max(v for _m, v in post_dose(dose, readings, "dbp")) < 110


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("hypertensive"))
def test_hypertensive_reaches_180_between_30_and_45_min_then_falls(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    sbp = post_dose(dose, readings, "sbp")
    assert any(v >= 180 for m, v in sbp if 30 <= m <= 45)
    assert all(v < 160 for m, v in sbp if m >= 100)


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("tachycardia"))
def test_tachycardia_holds_hr_at_120_or_more_for_minutes(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    hr = post_dose(dose, readings, "hr")
    assert longest_run(hr, lambda v: v >= 120) >= 3 * MIN
    assert max(v for _m, v in hr) < 140


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("bradycardia"))
def test_bradycardia_drops_hr_to_50_and_sbp_to_90(scenario: str, protocol: str, seed: int) -> None:
    dose, readings = session(scenario, protocol, seed)
    hr = post_dose(dose, readings, "hr")
    assert longest_run(hr, lambda v: v <= 50) >= 60
    assert min(v for _m, v in hr) > 40
    assert any(v <= 90 for _m, v in post_dose(dose, readings, "sbp"))


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("desaturation"))
def test_desaturation_holds_spo2_at_88_or_less_for_30_s(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    spo2 = post_dose(dose, readings, "spo2")
    assert longest_run(spo2, lambda v: v <= 88) >= 30
    assert min(v for _m, v in spo2) >= 84
    assert longest_run(spo2, lambda v: v <= 92) <= 5 * MIN


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("artefacts"))
def test_artefacts_are_one_short_spike_and_one_failed_cuff_cycle(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    spo2_dips = longest_run(post_dose(dose, readings, "spo2"), lambda v: v <= 90)
    hr_spikes = longest_run(post_dose(dose, readings, "hr"), lambda v: v >= 120)
    assert sorted([spo2_dips, hr_spikes])[0] == 0
    assert 1 <= max(spo2_dips, hr_spikes) <= 5
    cuff = [r.t_s for r in readings if r.sbp is not None]
    expected = nibp_times(DURATION, dose, 300)
    assert len(set(expected) - set(cuff)) == 1
    # The monitor retries the failed cycle, so BP is never overdue (1.5 x the cycle).
    assert max(b - a for a, b in itertools.pairwise(cuff)) < 1.5 * 300


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("elevated-predose"))
def test_elevated_predose_bp_is_above_140_over_90(scenario: str, protocol: str, seed: int) -> None:
    dose, readings = session(scenario, protocol, seed)
    pre = [r for r in readings if r.sbp is not None and r.t_s < dose]
    assert pre and all(r.sbp is not None and r.sbp > 140 for r in pre)


@pytest.mark.parametrize(("scenario", "protocol", "seed"), cases("no-predose"))
def test_no_predose_has_no_cuff_reading_before_the_dose(
    scenario: str, protocol: str, seed: int
) -> None:
    dose, readings = session(scenario, protocol, seed)
    assert [r for r in readings if r.sbp is not None and r.t_s < dose] == []
    assert [r for r in readings if r.sbp is not None and r.t_s < dose + 300] != []
    assert [r for r in readings if r.hr is not None and r.t_s < dose] != []


def test_only_the_disconnect_scenario_has_an_outage_of_a_few_minutes_after_the_dose() -> None:
    for scenario in SCENARIOS:
        window = outage_window(scenario, "spravato", 5, 1, 1500)
        if scenario != "disconnect":
            assert window is None
            continue
        assert window is not None
        start, end = window
        assert start >= 1500 + 10 * MIN and 3 * MIN <= end - start <= 4 * MIN


def test_iv_ketamine_rise_peaks_during_the_40_min_infusion() -> None:
    for seed in SEEDS:
        dose, readings = session("typical", "iv-ketamine", seed)
        peak_minute = max(post_dose(dose, readings, "sbp"), key=lambda p: p[1])[0]
        assert 20 <= peak_minute <= 45


def test_sim_clock_stamps_no_reading_in_the_future_and_keeps_real_intervals() -> None:
    clock = SimClock(speed=60, duration_s=9000)
    # Simulated second t is sent at real_start + t / speed; its stamp is never later.
    for t in (0.0, 1500.0, 9000.0):
        sent_at = clock.wall_start.timestamp() + t / 60
        assert clock.wall(t).timestamp() <= sent_at + 1e-6
    assert (clock.wall(61) - clock.wall(1)).total_seconds() == 60
    assert clock.ts(0).endswith("Z")
    real_time = SimClock(speed=1, duration_s=9000)
    assert real_time.wall(30) == real_time.wall_start + (real_time.wall(30) - real_time.wall(0))
    assert real_time.lead_s == 0
