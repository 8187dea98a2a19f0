"""Alert lifecycle: raise, escalate, supersede, latch, acknowledge, re-alarm, clear."""

from __future__ import annotations

import pytest

from app.alerts import (
    Acknowledge,
    AlertAlreadyAcknowledged,
    AlertNotFound,
    AlertNotOpen,
    Reading,
    SessionClosed,
    SessionEnded,
    Tick,
    state_to_dict,
)
from tests.alerts.sessions import Session, brief, nibp, oximetry, vital_rules


def test_one_nibp_reading_at_the_limit_raises_a_medium_alert_at_once() -> None:
    session = Session(rules=vital_rules())
    (event,) = session.feed(nibp(10, 172))
    assert event.to_json_dict() == {
        "t_s": 10.0,
        "event": "raised",
        "rule": "sbp_high",
        "vital": "sbp",
        "value": 172,
        "priority": "medium",
        "kind": "physiological",
        "message": "SBP 172 ≥ 160 mmHg",
        "measured_t_s": 10.0,
        "alert_no": 1,
        "reason": event.reason,
    }
    assert "160" in event.reason


def test_unacknowledged_medium_alert_escalates_once_after_two_minutes() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165))
    assert session.ticks(11, 129) == []
    (escalated,) = session.ticks(130, 600)
    assert (escalated.t, escalated.event, escalated.priority) == (130.0, "escalated", "medium")
    assert escalated.message == "Unacknowledged for 2 min: SBP 165 ≥ 160 mmHg"


def test_acknowledged_medium_alert_does_not_escalate() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165), Acknowledge(20, 1, "nurse.a", None))
    assert brief(session.ticks(21, 300)) == []


def test_high_alert_does_not_escalate_it_is_already_immediate() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 185))
    assert session.ticks(11, 170) == []


def test_critical_alert_supersedes_the_open_medium_alert_on_the_same_vital() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165))
    events = session.feed(nibp(70, 186))
    assert brief(events) == [(70.0, "raised", "sbp_critical"), (70.0, "superseded", "sbp_high")]
    assert events[1].alert_no == 1 and "sbp_critical (alert 2)" in events[1].reason
    assert session.open_rules() == ["sbp_critical"]


def test_medium_alert_does_not_raise_while_the_critical_alert_on_its_vital_is_open() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), nibp(310, 165), nibp(610, 162))
    assert brief(session.events) == [(10.0, "raised", "sbp_critical")]


def test_latched_high_alert_stays_open_after_its_condition_ends_until_acknowledged() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186))
    assert session.feed(nibp(310, 150), Tick(900)) == []
    assert session.state.book.open["sbp_critical"].condition_ended
    events = session.feed(Acknowledge(905, 1, "dr.b", "re-measured, 150/80"))
    assert brief(events) == [
        (905.0, "acknowledged", "sbp_critical"),
        (905.0, "cleared", "sbp_critical"),
    ]
    assert events[0].user == "dr.b" and events[0].note == "re-measured, 150/80"
    assert events[0].to_json_dict()["user"] == "dr.b"
    assert "Latched" in events[1].reason
    assert session.open_rules() == []


def test_high_alert_between_limit_and_clear_limit_is_still_present() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), nibp(310, 175))  # < 180 but not < 170: not ended
    assert not session.state.book.open["sbp_critical"].condition_ended


def test_acknowledged_high_alert_clears_when_its_condition_ends() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), Acknowledge(30, 1, "dr.b", None))
    assert brief(session.feed(nibp(160, 150))) == [(160.0, "cleared", "sbp_critical")]


def test_when_the_critical_alert_clears_above_the_medium_limit_the_medium_alert_takes_over() -> (
    None
):
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), Acknowledge(30, 1, "dr.b", None))
    assert brief(session.feed(nibp(160, 165))) == [
        (160.0, "cleared", "sbp_critical"),
        (160.0, "raised", "sbp_high"),
    ]


def test_acknowledged_high_alert_still_present_re_alarms_after_three_minutes() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), Acknowledge(30, 1, "dr.b", None))
    assert session.ticks(31, 209) == []
    (event,) = session.ticks(210, 230)
    assert (event.t, event.event, event.value) == (210.0, "re-alarmed", 186)
    assert session.state.book.open["sbp_critical"].state == "active"
    # Re-alarmed, it needs (and accepts) a new acknowledgement.
    assert brief(session.feed(Acknowledge(240, 1, "dr.c", None))) == [
        (240.0, "acknowledged", "sbp_critical")
    ]


def test_acknowledged_medium_alert_still_present_re_alarms_after_ten_minutes() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165), Acknowledge(20, 1, "nurse.a", None), nibp(310, 166))
    assert session.ticks(311, 619) == []  # acknowledged: no escalation either
    assert brief(session.ticks(620, 620)) == [(620.0, "re-alarmed", "sbp_high")]
    # Unacknowledged again, it escalates two minutes after the re-alarm.
    assert brief(session.ticks(621, 740)) == [(740.0, "escalated", "sbp_high")]


def test_medium_alert_clears_below_its_clear_limit_not_at_its_limit() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165))
    assert session.feed(nibp(60, 157)) == []  # below 160 but not below 155: hysteresis
    (cleared,) = session.feed(nibp(110, 154))
    assert (cleared.event, cleared.message) == ("cleared", "Cleared: SBP 154 < 155 mmHg")


def test_spo2_hovering_around_the_limit_raises_once_and_never_flaps() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 20, spo2=91))
    hovering = [Reading(float(t), hr=72, spo2=91 if t % 2 else 93) for t in range(21, 900)]
    session.feed(hovering)
    raised = [e for e in session.events if e.rule == "spo2_low"]
    assert [e.event for e in raised] == ["raised", "escalated"]


def test_one_alert_per_rule_a_cleared_problem_that_returns_is_a_new_alert() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165), nibp(60, 150), nibp(110, 170))
    assert [(e.event, e.alert_no) for e in session.events] == [
        ("raised", 1),
        ("cleared", 1),
        ("raised", 2),
    ]


def test_condition_returning_while_latched_continues_the_same_alert() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), nibp(310, 150), nibp(610, 190))
    assert brief(session.events) == [(10.0, "raised", "sbp_critical")]
    assert not session.state.book.open["sbp_critical"].condition_ended
    # Acknowledged while present again, it stays open (acknowledged), it does not clear.
    assert brief(session.feed(Acknowledge(620, 1, "dr.b", None))) == [
        (620.0, "acknowledged", "sbp_critical")
    ]


def test_acknowledging_a_resolved_alert_is_refused_and_changes_nothing() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165), nibp(60, 150))
    before = state_to_dict(session.state)
    with pytest.raises(AlertNotOpen, match="alert 1 is already resolved"):
        session.feed(Acknowledge(70, 1, "nurse.a", None))
    assert state_to_dict(session.state) == before


def test_acknowledging_an_unknown_alert_is_refused() -> None:
    session = Session(rules=vital_rules())
    with pytest.raises(AlertNotFound, match="no alert 7"):
        session.feed(Acknowledge(5, 7, "nurse.a", None))


def test_acknowledging_twice_is_refused_naming_the_alert() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 165), Acknowledge(20, 1, "nurse.a", None))
    with pytest.raises(AlertAlreadyAcknowledged, match=r"alert 1 \(sbp_high\)"):
        session.feed(Acknowledge(25, 1, "nurse.b", None))


def test_session_end_resolves_every_open_alert_and_refuses_further_input() -> None:
    session = Session(rules=vital_rules())
    session.feed(nibp(10, 186), nibp(20, 90, 60))
    events = session.feed(SessionEnded(60))
    assert {(e.event, e.rule) for e in events} == {
        ("cleared", "sbp_critical"),
        ("cleared", "sbp_low"),
    }
    assert all(e.reason == "Session ended" for e in events)
    with pytest.raises(SessionClosed):
        session.feed(Tick(61))


def test_every_event_carries_its_time_and_a_reason() -> None:
    session = Session(rules=vital_rules())
    session = Session()  # all rules: technical and advisory events need reasons too
    session.feed(nibp(10, 165), nibp(310, 186), Acknowledge(320, 2, "dr.b", None))
    session.feed(nibp(620, 150), Tick(700))
    for event in session.events:
        assert event.t >= 10 and event.reason.strip() and event.message.strip()
