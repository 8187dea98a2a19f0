"""Each simulated clinical course raises the alerts CLINICAL.md expects of it, through the same
engine and trace path as ``chairside replay --offline`` (several seeds, both protocols)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest

from app.trace import run_offline
from simulators.clinic import plan_chair

SEEDS = (1, 2, 3)
PROTOCOLS = ("spravato", "iv-ketamine")
DURATION_S = 150 * 60.0


@functools.cache
def alerts_of(scenario: str, protocol: str, seed: int) -> tuple[dict, ...]:
    """What the course raises, worked out once a run: several tests look at the same course,
    and the same seed makes the same course."""
    from simulators.courses import write_trace_csv

    plan = plan_chair(1, seed, scenario, DURATION_S, protocol)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{scenario}-{protocol}-{seed}.csv"
        write_trace_csv(plan.readings, path)
        events = run_offline(path, protocol, plan.dose_at_s)
        return tuple(e for e in events if e["event"] == "raised")


def raised(
    events: tuple[dict, ...], priority: str | None = None, kind: str = "physiological"
) -> set:
    return {
        e["rule"]
        for e in events
        if e["kind"] == kind and (priority is None or e["priority"] == priority)
    }


@pytest.fixture(params=[(p, s) for p in PROTOCOLS for s in SEEDS], ids=lambda v: f"{v[0]}-{v[1]}")
def course(request: pytest.FixtureRequest):
    protocol, seed = request.param
    return lambda scenario: alerts_of(scenario, protocol, seed)


def test_typical_course_raises_no_physiological_alert(course) -> None:
    # A rise of +10-25 systolic is the expected response: no alarm for it.
    assert raised(course("typical")) == set()


def test_artefacts_raise_nothing(course) -> None:
    # A few seconds of a wild SpO2 or HR value, two seconds of an impossible HR 0 (dropped at
    # ingest, the SpO2 beside it kept) and one failed cuff cycle are not events.
    events = course("artefacts")
    assert raised(events) == set()
    assert raised(events, kind="technical") == set()


def test_an_impossible_value_is_dropped_alone_and_its_neighbours_kept(tmp_path: Path) -> None:
    from app.trace import scan_trace
    from simulators.courses import write_trace_csv

    plan = plan_chair(1, 1, "artefacts", DURATION_S, "spravato")
    path = tmp_path / "artefacts.csv"
    write_trace_csv(plan.readings, path)
    dropped = [row for row in scan_trace(path) if getattr(row, "dropped", ())]
    assert len(dropped) == 2
    assert all(row.dropped[0].vital == "hr" and row.spo2 is not None for row in dropped)


def test_marked_rise_raises_medium_alerts_and_no_high(course) -> None:
    events = course("marked-rise")
    assert raised(events, "medium") & {"sbp_high", "sbp_rise"}
    assert raised(events, "high") == set()


def test_hypertensive_response_raises_the_high_sbp_alert(course) -> None:
    assert "sbp_critical" in raised(course("hypertensive"), "high")


def test_tachycardia_raises_hr_high_but_not_the_critical_rate(course) -> None:
    events = course("tachycardia")
    assert "hr_high" in raised(events, "medium")
    assert "hr_critical_high" not in raised(events)


def test_vasovagal_course_raises_low_heart_rate_and_low_pressure(course) -> None:
    assert {"hr_low", "sbp_low"} <= raised(course("bradycardia"), "medium")


def test_desaturation_raises_the_spo2_alerts(course) -> None:
    assert "spo2_critical" in raised(course("desaturation"), "high")


def test_elevated_predose_bp_raises_its_advisory_at_the_dose(course) -> None:
    events = course("elevated-predose")
    assert "predose_bp_elevated" in raised(events, kind="advisory")
    assert raised(events, "high") == set()


def test_no_predose_bp_raises_its_advisory(course) -> None:
    assert "predose_bp_missing" in raised(course("no-predose"), kind="advisory")


def test_no_course_alarms_without_reason_on_a_technical_rule(course) -> None:
    # Every course sends 1 Hz oximetry and timely cuff cycles (recorded offline, without the
    # outage): no-data and overdue-BP alerts would be noise here.
    for scenario in ("typical", "hypertensive", "desaturation", "disconnect"):
        assert raised(course(scenario), kind="technical") == set(), scenario
