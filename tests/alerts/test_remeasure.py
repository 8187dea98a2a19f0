"""Confirm by re-measure (CLINICAL.md "Evidence"), off by default: a first high NIBP reading asks
for a re-measure and alarms only when the next reading confirms it; 200/120 alarms at once."""

from __future__ import annotations

import json
from dataclasses import replace

from app.alerts import (
    RuleSet,
    Tick,
    default_rules,
    load_rules,
    state_from_dict,
    state_to_dict,
    with_setup,
)
from tests.alerts.sessions import Session, brief, changed, nibp, vital_rules
from tests.alerts.test_real_traces import minute_rules, raised, replay
from tests.support import TRACES


def confirming(rules: RuleSet | None = None) -> RuleSet:
    """``rules`` (the vital rules by default) with confirm by re-measure turned on."""
    return changed(rules if rules is not None else vital_rules(), "bp_remeasure", enabled=True)


def test_it_is_off_by_default_a_high_reading_alarms_at_once() -> None:
    assert not default_rules("spravato").get("bp_remeasure").enabled
    session = Session()
    assert brief(session.feed(nibp(10, 172))) == [(10.0, "raised", "sbp_high")]


def test_a_first_high_reading_asks_for_a_re_measure_and_the_next_one_confirms_it() -> None:
    session = Session(rules=confirming())
    (advice,) = session.feed(nibp(10, 172, 88))
    assert (advice.rule, advice.priority, advice.kind) == ("bp_remeasure", "low", "advisory")
    assert advice.message == (
        "Re-measure BP now to confirm SBP 172 ≥ 160 mmHg (alert if not re-measured in 10 min)"
    )
    events = session.feed(nibp(130, 168, 86))
    assert brief(events) == [(130.0, "cleared", "bp_remeasure"), (130.0, "raised", "sbp_high")]
    assert events[0].message == "Cleared: BP re-measured: 168/86 mmHg"
    assert (events[1].priority, events[1].message) == ("medium", "SBP 168 ≥ 160 mmHg")


def test_a_re_measure_that_does_not_confirm_raises_nothing() -> None:
    session = Session(rules=confirming())
    session.feed(nibp(10, 175, 92))
    assert brief(session.feed(nibp(130, 138, 84))) == [(130.0, "cleared", "bp_remeasure")]
    assert session.open_rules() == []


def test_the_re_measure_is_judged_on_its_own_tier() -> None:
    session = Session(rules=confirming())
    session.feed(nibp(10, 165, 90))
    assert brief(session.feed(nibp(130, 186, 95))) == [
        (130.0, "cleared", "bp_remeasure"),
        (130.0, "raised", "sbp_critical"),
    ]
    assert session.events[-1].priority == "high"


def test_a_reading_at_the_immediate_tier_alarms_at_once() -> None:
    for reading, rule in (
        (nibp(10, 200, 95), "sbp_critical"),
        (nibp(10, 150, 120), "dbp_critical"),
    ):
        session = Session(rules=confirming())
        events = session.feed(reading)
        assert (events[0].rule, events[0].priority) == (rule, "high")
        assert "bp_remeasure" not in session.open_rules()


def test_no_re_measure_in_time_raises_the_first_readings_alert_never_leaves_it_unheard() -> None:
    session = Session(rules=confirming())
    session.feed(nibp(10, 172, 88))
    assert session.ticks(11, 609) == []
    events = session.ticks(610, 610)
    assert brief(events) == [(610.0, "raised", "sbp_high"), (610.0, "cleared", "bp_remeasure")]
    assert events[0].message == "SBP 172 ≥ 160 mmHg on one reading, not re-measured within 10 min"
    assert events[0].value == 172


def test_while_a_high_bp_alert_is_open_a_higher_reading_alarms_at_once() -> None:
    # The problem is already confirmed: its escalation waits for nothing.
    session = Session(rules=confirming())
    session.feed(nibp(10, 172), nibp(130, 170))
    assert session.open_rules() == ["sbp_high"]
    assert brief(session.feed(nibp(250, 184))) == [
        (250.0, "raised", "sbp_critical"),
        (250.0, "superseded", "sbp_high"),
    ]


def test_a_wait_for_the_re_measure_survives_a_restart() -> None:
    session = Session(rules=confirming())
    session.feed(nibp(10, 172, 88), Tick(300))
    session.state = state_from_dict(json.loads(json.dumps(state_to_dict(session.state))))
    assert brief(session.ticks(301, 610)) == [
        (610.0, "raised", "sbp_high"),
        (610.0, "cleared", "bp_remeasure"),
    ]


def test_a_clinic_turns_it_on_and_sets_its_window_in_the_rule_file() -> None:
    rules = load_rules(
        {
            "protocol": "spravato",
            "rules": [{"id": "bp_remeasure", "enabled": True, "window_s": 300}],
        }
    )
    session = Session(rules=changed(rules, "no_data", enabled=False))
    session.feed(nibp(10, 172, 88))
    assert brief(session.ticks(11, 310)) == [
        (310.0, "raised", "sbp_high"),
        (310.0, "cleared", "bp_remeasure"),
    ]


def test_real_s25047_a_lone_118_diastolic_waits_and_127_alarms_at_once() -> None:
    # 147/118 at 24 min is followed 8 min later by 66/20: not confirmed, no diastolic alarm.
    # 151/127 at 35 min is at the immediate tier (≥ 120): the high alert at once.
    events, _ = replay(TRACES / "mimic2_s25047_numerics_1min.csv", rules=confirming(minute_rules()))
    dbp = [(t, rule) for t, rule in raised(events) if rule.startswith("dbp")]
    assert dbp == [(2100.0, "dbp_critical")]
    asked = [(e["t_s"], e["event"]) for e in events if e["rule"] == "bp_remeasure"]
    assert asked[:2] == [(1440.0, "raised"), (1920.0, "cleared")]


def test_turning_it_off_while_a_reading_waits_still_raises_that_readings_alert() -> None:
    session = Session(rules=confirming())
    session.feed(nibp(10, 172, 88), Tick(100))
    setup = replace(session.state.setup, rules=vital_rules())
    session.state = with_setup(session.state, setup)
    assert brief(session.ticks(101, 610)) == [
        (610.0, "raised", "sbp_high"),
        (610.0, "cleared", "bp_remeasure"),
    ]
