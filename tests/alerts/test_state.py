"""The engine state persists as JSON-compatible data and resumes exactly where it stopped."""

from __future__ import annotations

import json

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
