"""The simulated nurse of the demo: observations in time (no "Observation due" except at the
chair the nurse is late to), the patient found hard to rouse when the capnograph shows slowed
breathing, and, against the live server, stored under the nurse's login and acted on by the
engine."""

from __future__ import annotations

import itertools

import httpx
import pytest

from app.alerts.defaults import default_rules
from simulators.clinic import SCENARIO_MIX, plan_chair, run_clinic
from simulators.nurse import LATE_CHAIR, SLOW_RR, SimObservation, observations
from tests.support import PASSWORD, Clinic

DURATION_S = 150 * 60.0
MIN = 60.0
SPEED = 2000.0


def planned(index: int, seed: int) -> tuple[float, list[SimObservation]]:
    plan = plan_chair(index, seed, None, DURATION_S)
    return plan.dose_at_s, observations(index, plan.dose_at_s, plan.readings, DURATION_S)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_chair_is_observed_before_an_observation_falls_due_but_the_late_one(
    seed: int,
) -> None:
    due_after = default_rules("spravato").observation_interval_s
    for index in range(1, len(SCENARIO_MIX) + 1):
        dose, seen = planned(index, seed)
        # Until the session ends: the engine counts from the dose, then the last observation.
        times = [dose] + [o.t_s for o in seen] + [DURATION_S]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if index == LATE_CHAIR:
            assert max(gaps) > due_after  # the screen shows "Observation due" there
        else:
            assert max(gaps) < due_after, (index, max(gaps))
        assert all(o.moaas >= 4 for o in seen if o.t_s - dose >= 75 * MIN), index


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_slowed_breathing_brings_the_nurse_who_finds_the_patient_hard_to_rouse(seed: int) -> None:
    plan = plan_chair(4, seed, "respiratory-depression", DURATION_S)
    seen = observations(4, plan.dose_at_s, plan.readings, DURATION_S)
    slowed = next(r.t_s for r in plan.readings if r.rr is not None and r.rr <= SLOW_RR)
    first = next(o for o in seen if o.moaas <= 2)
    assert slowed < first.t_s <= slowed + 2 * MIN
    assert first.respiratory == "depressed"
    # Looked at again every 5 minutes until the patient is rousable, then breathing is normal.
    after = [o for o in seen if o.t_s > first.t_s]
    recovered = next(o for o in after if o.moaas > 2)
    assert recovered.respiratory == "normal"
    checks = [first.t_s] + [o.t_s for o in after if o.t_s <= recovered.t_s]
    assert all(b - a == pytest.approx(5 * MIN) for a, b in itertools.pairwise(checks))
    # A chair whose breathing never slows is never found so.
    calm = plan_chair(1, seed, "typical", DURATION_S)
    assert all(
        o.moaas >= 4 and o.respiratory == "normal"
        for o in observations(1, calm.dose_at_s, calm.readings, DURATION_S)
    )


async def test_the_nurse_records_under_the_nurse_login_and_the_engine_acts_on_it(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    duration = 60 * MIN
    report = await run_clinic(
        clinic.server.url,
        "admin",
        PASSWORD,
        1,
        SPEED,
        2,
        "respiratory-depression",
        duration,
        progress=False,
        nurse=("nurse", PASSWORD),
    )
    plan = plan_chair(1, 2, "respiratory-depression", duration)
    expected = observations(1, plan.dose_at_s, plan.readings, duration)
    assert any(o.moaas <= 2 for o in expected)
    session_id = report.chairs[0].session_id
    stored = (await admin.get(f"/api/sessions/{session_id}/observations")).json()
    assert report.chairs[0].observations == len(expected) == len(stored)
    assert [(o["moaas"], o["respiratory"]) for o in stored] == [
        (o.moaas, o.respiratory) for o in expected
    ]
    assert {o["recorded_by"] for o in stored} == {"nurse"}
    alerts = (await admin.get("/api/alerts", params={"session_id": session_id})).json()
    rules = {a["rule"] for a in alerts}
    assert {"sedation_moderate", "respiratory_depressed"} <= rules
