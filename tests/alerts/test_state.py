"""The engine state persists as JSON-compatible data and resumes exactly where it stopped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.alerts import (
    Acknowledge,
    SessionSetup,
    StateError,
    default_rules,
    new_state,
    run,
    state_from_dict,
    state_to_dict,
    step,
)
from tests.alerts import courses
from tests.alerts.sessions import nibp, oximetry


def session_setup() -> SessionSetup:
    return SessionSetup("spravato", 0.0, None, default_rules("spravato"))


@pytest.mark.parametrize("split_at", [600, 1200, 3005, 4950, 8000])
def test_a_state_saved_mid_session_and_restored_gives_the_same_later_events(split_at: int) -> None:
    inputs = courses.with_dose(courses.hypertensive().build())
    whole = run(session_setup(), inputs)
    head = [item for item in inputs if item.t < split_at]
    tail = inputs[len(head) :]
    state = new_state(session_setup())
    events = []
    for item in head:
        state, new = step(state, item)
        events += new
    saved = json.dumps(state_to_dict(state))  # JSON-compatible: survives a text round trip
    state = state_from_dict(json.loads(saved))
    assert state_to_dict(state) == json.loads(saved)
    for item in tail:
        state, new = step(state, item)
        events += new
    assert events == whole


def test_restored_state_accepts_acknowledgement_of_alerts_raised_before_the_restart() -> None:
    inputs = courses.with_dose(courses.desaturation().build())
    state = new_state(session_setup())
    for item in inputs:
        if item.t > 3100:
            break
        state, _ = step(state, item)
    restored = state_from_dict(json.loads(json.dumps(state_to_dict(state))))
    alert_no = restored.book.open["spo2_critical"].alert_no
    _, events = step(restored, Acknowledge(3101, alert_no, "nurse.a", None))
    assert [(e.event, e.rule) for e in events] == [
        ("acknowledged", "spo2_critical"),
        ("cleared", "spo2_critical"),
    ]


def test_something_that_is_not_a_saved_state_is_refused() -> None:
    with pytest.raises(StateError, match="not an engine state"):
        state_from_dict({"format": 99})
    data = state_to_dict(new_state(session_setup()))
    del data["chains"]
    with pytest.raises(StateError, match="incomplete or malformed"):
        state_from_dict(data)


def older_form(data: dict[str, Any]) -> dict[str, Any]:
    """A snapshot as the previous version wrote it: without the fields this one added, the
    session's NIBP cycle always set (300 s), its rule set without an expected cycle."""
    old = {
        k: v for k, v in data.items() if k not in ("nibp_intervals", "bp_unconfirmed", "streams")
    }
    setup = dict(data["setup"], nibp_cycle_s=300.0)
    setup["rules"] = {k: v for k, v in setup["rules"].items() if k != "nibp_interval_s"}
    return dict(old, setup=setup)


def test_a_state_of_the_older_form_restores_and_goes_on_as_it_would_have() -> None:
    # A session upgraded mid-desaturation: SpO2 86 since 3 s before the restart; the restored
    # engine finishes the 10 s persistence and still expects a BP every 5 min.
    state = new_state(session_setup())
    for item in [nibp(0, 120), *oximetry(0, 59), *oximetry(60, 63, spo2=86)]:
        state, _ = step(state, item)
    restored = state_from_dict(json.loads(json.dumps(older_form(state_to_dict(state)))))
    assert restored.setup.nibp_cycle_s == 300.0
    events = []
    for item in [*oximetry(64, 75, spo2=86), *oximetry(76, 490)]:
        restored, new = step(restored, item)
        events += new
    assert [(e.t, e.event, e.rule) for e in events if e.event == "raised"] == [
        (70.0, "raised", "spo2_critical"),
        (450.0, "raised", "bp_overdue"),
    ]
