"""The chairs with a capnograph: a respiratory-depression course shows in RR and EtCO2 minutes
before SpO2 falls, an apnoea stops breathing for about 30 s; both raise the respiratory alerts
through the same trace path as ``chairside replay --offline`` (several seeds, both protocols),
and the courses without a capnograph write the traces they always did."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from app.trace import TraceRow, run_offline, scan_trace
from simulators.clinic import SCENARIO_MIX, plan_chair
from simulators.courses import SCENARIOS, SimReading, write_trace_csv

SEEDS = (1, 2, 3)
PROTOCOLS = ("spravato", "iv-ketamine")
DURATION_S = 150 * 60.0
MIN = 60.0
CASES = [(p, s) for p in PROTOCOLS for s in SEEDS]


@cache
def course(scenario: str, protocol: str, seed: int) -> tuple[float, tuple[SimReading, ...]]:
    plan = plan_chair(1, seed, scenario, DURATION_S, protocol)
    return plan.dose_at_s, tuple(plan.readings)


def values(readings: tuple[SimReading, ...], vital: str) -> list[tuple[float, float]]:
    return [(r.t_s, getattr(r, vital)) for r in readings if getattr(r, vital) is not None]


def first(points: list[tuple[float, float]], holds: object, after: float = 0.0) -> float:
    """The first time after ``after`` that a vital meets ``holds`` for 10 s running."""
    run = 0
    for t, value in points:
        run = run + 1 if t >= after and holds(value) else 0  # type: ignore[operator]
        if run == 10:
            return t - 9
    return float("inf")


def replayed(tmp_path: Path, scenario: str, protocol: str, seed: int) -> list[dict]:
    dose, readings = course(scenario, protocol, seed)
    path = tmp_path / f"{scenario}-{protocol}-{seed}.csv"
    write_trace_csv(readings, path)
    return list(run_offline(path, protocol, dose))


def raised(events: list[dict]) -> list[tuple[float, str, str]]:
    return [(e["t_s"], e["rule"], e["priority"]) for e in events if e["event"] == "raised"]


@pytest.mark.parametrize(("protocol", "seed"), CASES)
def test_respiratory_depression_falls_in_rr_and_climbs_in_etco2_before_spo2_falls(
    protocol: str, seed: int
) -> None:
    dose, readings = course("respiratory-depression", protocol, seed)
    rr, etco2, spo2 = (values(readings, v) for v in ("rr", "etco2", "spo2"))
    assert len(rr) == len(etco2) == len(spo2)  # the capnograph reports with the oximetry
    before = [(v_rr, v_co2) for (t, v_rr), (_, v_co2) in zip(rr, etco2, strict=True) if t < dose]
    assert all(10 <= r <= 20 and 33 <= c <= 42 for r, c in before)  # normal: 12-18, 35-40
    slow = first(rr, lambda v: v <= 8, dose)
    retained = first(etco2, lambda v: v >= 50, dose)
    desaturated = first(spo2, lambda v: v <= 93, dose)
    assert dose + 15 * MIN <= min(slow, retained) <= dose + 45 * MIN
    # Over several minutes, not at once: from normal breathing to the low rate takes minutes.
    onset = first(rr, lambda v: v <= 11, dose)
    assert slow - onset >= 60
    # SpO2 only late: minutes after breathing slowed and CO2 built up.
    assert desaturated - max(slow, retained) >= 2 * MIN
    trough = [v for t, v in rr if slow <= t <= slow + 5 * MIN]
    assert min(trough) >= 5 and sorted(trough)[len(trough) // 2] in (6, 7, 8)
    assert max(v for _t, v in etco2) >= 51
    # And it recovers.
    assert all(10 <= v <= 20 for t, v in rr if t >= dose + 90 * MIN)


@pytest.mark.parametrize(("protocol", "seed"), CASES)
def test_respiratory_depression_alarms_on_breathing_minutes_before_the_spo2_alert(
    tmp_path: Path, protocol: str, seed: int
) -> None:
    alerts = raised(replayed(tmp_path, "respiratory-depression", protocol, seed))
    rules = {rule: (t, priority) for t, rule, priority in alerts}
    assert rules["rr_low"][1] == rules["etco2_high"][1] == "medium"
    assert "apnoea" not in rules and "rr_critical_low" not in rules
    capnography = min(rules["rr_low"][0], rules["etco2_high"][0])
    assert rules["spo2_low"][0] - capnography >= 2 * MIN
    assert [r for r in rules if rules[r][1] == "high"] == []


@pytest.mark.parametrize(("protocol", "seed"), CASES)
def test_apnoea_stops_breathing_for_about_30_seconds_and_raises_one_high_apnoea_alert(
    tmp_path: Path, protocol: str, seed: int
) -> None:
    dose, readings = course("apnoea", protocol, seed)
    flat = [t for t, v in values(readings, "etco2") if v <= 3 and t > dose]
    assert 24 <= len(flat) <= 36 and flat[-1] - flat[0] == len(flat) - 1  # one stretch
    assert [t for t, v in values(readings, "rr") if v == 0] != []
    after = [v for t, v in values(readings, "rr") if t > flat[-1] + 60]
    assert min(after) >= 10  # recovered
    alerts = raised(replayed(tmp_path, "apnoea", protocol, seed))
    physiological = [(t, rule, p) for t, rule, p in alerts if rule not in ("observation_due",)]
    assert [(rule, p) for _t, rule, p in physiological if rule != "discharge_review"] == [
        ("apnoea", "high")
    ]
    (at,) = [t for t, rule, _p in physiological if rule == "apnoea"]
    assert flat[0] + 15 <= at <= flat[0] + 25  # 20 s without a breath


def test_a_capnograph_course_writes_rr_and_etco2_columns_the_replay_reads_back(
    tmp_path: Path,
) -> None:
    _dose, readings = course("apnoea", "spravato", 1)
    path = tmp_path / "apnoea.csv"
    write_trace_csv(readings, path)
    header, first_row = path.read_text().splitlines()[:2]
    assert header == "t_s,sbp,dbp,map,hr,spo2,rr,etco2"
    rows = [row for row in scan_trace(path) if isinstance(row, TraceRow)]
    assert len(rows) == len(readings)
    assert [(r.rr, r.etco2) for r in rows[:50]] == [(r.rr, r.etco2) for r in readings[:50]]
    assert first_row.split(",")[-2:] == [str(readings[0].rr), str(readings[0].etco2)]


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in ("apnoea",)])
def test_only_the_breathing_courses_have_a_capnograph(scenario: str, tmp_path: Path) -> None:
    _dose, readings = course(scenario, "spravato", 1)
    has = any(r.rr is not None or r.etco2 is not None for r in readings)
    assert has == (scenario == "respiratory-depression")
    if not has:
        path = tmp_path / f"{scenario}.csv"
        write_trace_csv(readings, path)
        assert path.read_text().startswith("t_s,sbp,dbp,map,hr,spo2\n")


def test_the_demo_mix_gives_one_of_its_first_eight_chairs_a_capnograph() -> None:
    demo = SCENARIO_MIX[:8]
    assert [s for s in demo if s in ("respiratory-depression", "apnoea")] == [
        "respiratory-depression"
    ]
    assert set(SCENARIO_MIX) == set(SCENARIOS)  # every course is somewhere in the mix
