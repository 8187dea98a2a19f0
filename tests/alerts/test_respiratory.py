"""Breathing and the nurse's observations through the pure engine: low RR, apnoea (only with a
capnograph connected), high and rising EtCO2, a lost capnograph, sedation and respiratory
depression observed, and the observation that falls due every 15 minutes after the dose."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.alerts import (
    Acknowledge,
    DoseMarked,
    Observation,
    Reading,
    RuleError,
    SessionEnded,
    default_rules,
    load_rules,
    state_from_dict,
    state_to_dict,
)
from tests.alerts.sessions import Session, brief, nibp, oximetry, vital_rules


def breaths(
    start: float, end: float, *, rr: float = 14, etco2: float | None = 38, hr: float = 72
) -> list[Reading]:
    """1 Hz readings of a monitor with a capnograph (``etco2=None``: RR from another source)."""
    return [
        Reading(float(t), hr=hr, spo2=97, rr=rr, etco2=etco2)
        for t in range(int(start), int(end) + 1)
    ]


def raised(session: Session) -> list[str]:
    return [e.rule for e in session.events if e.event == "raised"]


# --- the rules as a clinic's medical director reads them


@pytest.mark.parametrize("protocol", ["spravato", "iv-ketamine"])
def test_every_respiratory_and_observation_rule_is_a_setting_with_its_source(
    protocol: str,
) -> None:
    rules = default_rules(protocol)
    expected = {
        "rr_low": ("rr", "below", 8, 10, "medium", 30),
        "rr_critical_low": ("rr", "below", 5, 7, "high", 20),
        "apnoea": ("rr", "apnoea", 0, None, "high", 20),
        "etco2_high": ("etco2", "above", 50, 45, "medium", 30),
        "etco2_rise": ("etco2", "rise_above_baseline", 10, 5, "medium", 30),
        "sedation_deep": (None, "moaas_at_or_below", 1, None, "high", 0),
        "sedation_moderate": (None, "moaas_at_or_below", 2, None, "medium", 0),
        "respiratory_depressed": (None, "respiratory_depressed", None, None, "high", 0),
    }
    for rule_id, (vital, condition, limit, clear, priority, persist) in expected.items():
        rule = rules.get(rule_id)
        assert (rule.vital, rule.condition, rule.threshold, rule.clear_threshold) == (
            vital,
            condition,
            limit,
            clear,
        ), rule_id
        assert (rule.priority, rule.persist_s, rule.kind) == (priority, persist, "physiological")
        assert rule.latching == (priority == "high")
        assert "proposal" in rule.reason, rule_id
    assert rules.get("apnoea").etco2_threshold == 5
    assert rules.get("apnoea").supersedes == ("rr_critical_low", "rr_low")
    assert rules.get("etco2_high").supersedes == ("etco2_rise",)
    assert rules.get("sedation_deep").supersedes == ("sedation_moderate",)
    lost, due = rules.get("etco2_lost"), rules.get("observation_due")
    assert (lost.kind, lost.priority, lost.threshold) == ("technical", "medium", 30)
    assert (due.kind, due.priority, rules.observation_interval_s) == ("advisory", "low", 900)
    assert "REMS" in due.reason and "proposal" in due.reason


# --- low respiration rate


def test_rr_at_8_raises_rr_low_after_30_seconds_not_before() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 59))
    assert session.feed(breaths(60, 89, rr=7)) == []
    events = session.feed(breaths(90, 90, rr=8))
    assert brief(events) == [(90.0, "raised", "rr_low")]
    assert events[0].message == "RR 8 ≤ 8/min for 30 s"
    assert (events[0].priority, events[0].vital, events[0].value) == ("medium", "rr", 8)


def test_rr_low_clears_only_above_10_for_30_seconds() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 30, rr=7))
    session.feed(breaths(31, 200, rr=9))  # between the limit and the clear limit
    assert session.open_rules() == ["rr_low"]
    session.feed(breaths(201, 231, rr=11))
    assert brief(session.events[-1:]) == [(231.0, "cleared", "rr_low")]
    assert session.events[-1].message == "Cleared: RR 11 > 10/min for 30 s"


def test_critically_low_rr_supersedes_rr_low_and_latches_until_acknowledged() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 30, rr=7, etco2=None))
    events = session.feed(breaths(31, 51, rr=4, etco2=None))
    assert brief(events) == [(51.0, "raised", "rr_critical_low"), (51.0, "superseded", "rr_low")]
    # Breathing again: the high alert stays on screen until someone acknowledges it.
    assert session.feed(breaths(52, 200, rr=14, etco2=None)) == []
    assert session.open_rules() == ["rr_critical_low"]
    events = session.feed(Acknowledge(201, session.alert("rr_critical_low"), "nurse amy"))
    assert [e.event for e in events] == ["acknowledged", "cleared"]
    assert session.open_rules() == []


# --- apnoea


def test_no_breath_with_the_capnograph_connected_raises_apnoea_after_20_seconds() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 59))
    assert session.feed(breaths(60, 79, rr=0, etco2=1)) == []
    events = session.feed(breaths(80, 80, rr=0, etco2=1))
    assert brief(events) == [(80.0, "raised", "apnoea")]
    assert events[0].message == "Apnoea: no breath for 20 s: RR 0/min, EtCO2 1 mmHg"
    assert (events[0].priority, events[0].vital) == ("high", "rr")
    # Raised first, apnoea is the one alert: the critically low RR it supersedes stays quiet.
    session.feed(breaths(81, 120, rr=0, etco2=1))
    assert raised(session) == ["apnoea"]


def test_flat_etco2_is_apnoea_while_the_capnographs_rr_still_counts_the_last_breaths() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 59))
    events = session.feed(breaths(60, 80, rr=9, etco2=2))
    assert brief(events) == [(80.0, "raised", "apnoea")]


def test_rr_0_without_a_capnograph_is_a_critically_low_rr_not_apnoea() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 59, etco2=None))  # RR from the ECG leads (impedance), no EtCO2
    session.feed(breaths(60, 120, rr=0, etco2=None))
    assert raised(session) == ["rr_critical_low"]


def test_a_capnograph_that_stopped_sending_is_not_connected_for_apnoea() -> None:
    session = Session()
    session.feed(nibp(0, 120), breaths(1, 60))
    session.feed(breaths(61, 100, etco2=None))  # the sampling line is off: RR from elsewhere
    assert "etco2_lost" in raised(session)
    session.feed(breaths(101, 160, rr=0, etco2=None))
    assert "apnoea" not in raised(session) and "rr_critical_low" in raised(session)


def test_apnoea_supersedes_an_open_low_rr_alert() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 30, rr=7))
    events = session.feed(breaths(31, 51, rr=0, etco2=0))
    assert brief(events) == [(51.0, "raised", "apnoea"), (51.0, "superseded", "rr_low")]


def test_apnoea_ends_after_20_seconds_of_breathing_and_re_alarms_if_acknowledged_meanwhile() -> (
    None
):
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 9), breaths(10, 30, rr=0, etco2=0))
    # Acknowledged while still not breathing: silenced, and back 3 min later if still so.
    session.feed(Acknowledge(31, session.alert("apnoea"), "nurse amy"))
    events = session.feed(breaths(32, 211, rr=0, etco2=0))
    assert brief(events) == [(211.0, "re-alarmed", "apnoea")]
    # Breathing again for 20 s ends the condition; latched, it waits for its acknowledgement.
    session.feed(breaths(212, 232))
    assert session.open_rules() == ["apnoea"]
    events = session.feed(Acknowledge(240, session.alert("apnoea"), "nurse amy"))
    assert [e.event for e in events] == ["acknowledged", "cleared"]


def test_apnoea_persistence_completes_on_the_clock_between_capnograph_samples() -> None:
    # A capnograph sending every 2 s: the last sample stands until the next is due.
    session = Session(rules=vital_rules())
    session.feed(Reading(float(t), rr=14, etco2=38) for t in range(0, 60, 2))
    session.feed(Reading(float(t), rr=0, etco2=0) for t in range(60, 80, 2))
    events = session.ticks(79, 81)
    assert brief(events) == [(80.0, "raised", "apnoea")]


# --- EtCO2


def test_etco2_at_50_raises_etco2_high_after_30_seconds_and_clears_below_45() -> None:
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 59))
    assert session.feed(breaths(60, 89, etco2=52)) == []
    events = session.feed(breaths(90, 90, etco2=52))
    assert brief(events) == [(90.0, "raised", "etco2_high")]
    assert events[0].message == "EtCO2 52 ≥ 50 mmHg for 30 s"
    session.feed(breaths(91, 200, etco2=47))  # hysteresis: 45-50 keeps it
    assert session.open_rules() == ["etco2_high"]
    events = session.feed(breaths(201, 231, etco2=42))
    assert brief(events)[-1:] == [(231.0, "cleared", "etco2_high")]


def test_etco2_10_above_the_pre_dose_baseline_raises_etco2_rise_then_etco2_high_replaces_it() -> (
    None
):
    session = Session(rules=vital_rules())
    session.feed(breaths(0, 600, etco2=36), DoseMarked(600.5))
    assert session.state.baseline.etco2 == 36  # the median of the 30 min before the dose
    assert session.feed(breaths(601, 700, etco2=44)) == []  # +8
    events = session.feed(breaths(701, 731, etco2=46))
    assert brief(events) == [(731.0, "raised", "etco2_rise")]
    assert events[0].message == "EtCO2 46 mmHg: +10 from baseline 36 (≥ +10) for 30 s"
    events = session.feed(breaths(732, 762, etco2=51))
    assert brief(events) == [(762.0, "raised", "etco2_high"), (762.0, "superseded", "etco2_rise")]


def test_no_pre_dose_etco2_leaves_the_rise_rule_off_without_an_advisory() -> None:
    session = Session()
    session.feed(nibp(0, 120), oximetry(1, 299), nibp(300, 118), oximetry(300, 600))
    session.feed(DoseMarked(600.5), nibp(601, 121))
    session.feed(breaths(601, 800, etco2=48))  # capnograph put on after the dose
    assert session.state.baseline.etco2 is None
    assert raised(session) == []  # no rise alert, and no advisory about the missing baseline


def test_a_capnograph_that_stops_while_oximetry_continues_raises_etco2_lost() -> None:
    session = Session()
    session.feed(nibp(0, 120), breaths(1, 120))
    events = session.feed(breaths(121, 151, etco2=None))
    assert brief(events) == [(150.0, "raised", "etco2_lost")]
    assert events[0].message == "EtCO2 not received for 30 s — cannula or sampling line off?"
    assert (events[0].kind, events[0].priority) == ("technical", "medium")
    events = session.feed(breaths(152, 152))
    assert brief(events) == [(152.0, "cleared", "etco2_lost")]
    assert events[0].message == "Cleared: EtCO2 received again"


def test_a_chair_without_a_capnograph_never_misses_its_etco2() -> None:
    session = Session()
    session.feed(nibp(0, 120), oximetry(1, 300))
    assert raised(session) == []


def test_a_reading_of_rr_and_etco2_alone_is_data_from_the_monitor() -> None:
    session = Session(rules=vital_rules())
    session.feed(Reading(float(t), rr=14, etco2=38) for t in range(0, 120))
    assert session.events == [] and session.state.latest == {"rr": 14, "etco2": 38}
    with pytest.raises(ValueError, match="at least one of sbp, dbp, map, hr, spo2, rr, etco2"):
        Reading(1.0)


# --- the nurse's observations


def test_moaas_2_raises_sedation_moderate_at_once_with_the_words_of_the_score() -> None:
    session = Session(rules=vital_rules())
    session.feed(oximetry(0, 100))
    events = session.feed(Observation(100.5, moaas=2))
    assert brief(events) == [(100.5, "raised", "sedation_moderate")]
    event = events[0]
    assert (event.priority, event.kind, event.vital, event.value) == (
        "medium",
        "physiological",
        None,
        2,
    )
    assert event.message == (
        "Sedation observed: MOAA/S 2 (responds only after mild prodding or shaking) ≤ 2"
    )
    assert event.measured_t == 100.5
    # Unacknowledged, a medium alert escalates after 2 min; a later score of 4 clears it.
    assert brief(session.ticks(101, 221)) == [(221.0, "escalated", "sedation_moderate")]
    events = session.feed(Observation(300, moaas=4))
    assert brief(events) == [(300.0, "cleared", "sedation_moderate")]


def test_moaas_1_raises_sedation_deep_superseding_moderate_and_latches() -> None:
    session = Session(rules=vital_rules())
    session.feed(Observation(10, moaas=2))
    events = session.feed(Observation(20, moaas=1))
    assert brief(events) == [
        (20.0, "raised", "sedation_deep"),
        (20.0, "superseded", "sedation_moderate"),
    ]
    assert events[0].priority == "high"
    # Lighter again: the high alert stays until acknowledged, and no medium one beside it.
    assert session.feed(Observation(30, moaas=4)) == []
    assert session.open_rules() == ["sedation_deep"]
    events = session.feed(Acknowledge(40, session.alert("sedation_deep"), "nurse amy"))
    assert [e.event for e in events] == ["acknowledged", "cleared"]
    assert session.open_rules() == []


def test_acknowledged_deep_sedation_re_alarms_until_a_lighter_score_is_observed() -> None:
    session = Session(rules=vital_rules())
    session.feed(Observation(10, moaas=0))
    session.feed(Acknowledge(20, session.alert("sedation_deep"), "nurse amy"))
    assert brief(session.ticks(21, 200)) == [(200.0, "re-alarmed", "sedation_deep")]


def test_deep_sedation_acknowledged_at_moaas_2_leaves_the_moderate_alert() -> None:
    session = Session(rules=vital_rules())
    session.feed(Observation(10, moaas=1), Observation(20, moaas=2))
    events = session.feed(Acknowledge(30, session.alert("sedation_deep"), "nurse amy"))
    assert [(e.event, e.rule) for e in events] == [
        ("acknowledged", "sedation_deep"),
        ("cleared", "sedation_deep"),
        ("raised", "sedation_moderate"),
    ]


def test_respiratory_depression_observed_raises_a_high_alert_until_acknowledged() -> None:
    session = Session(rules=vital_rules())
    events = session.feed(Observation(10, respiratory="depressed"))
    assert brief(events) == [(10.0, "raised", "respiratory_depressed")]
    assert events[0].message == "Respiratory depression observed by the nurse"
    assert events[0].priority == "high"
    # A later observation that does not assess breathing says nothing about it.
    assert session.feed(Observation(20, moaas=5)) == []
    assert session.feed(Observation(30, respiratory="normal")) == []  # latched
    events = session.feed(Acknowledge(40, session.alert("respiratory_depressed"), "dr bo"))
    assert [e.event for e in events] == ["acknowledged", "cleared"]


def test_dissociation_is_recorded_but_raises_nothing() -> None:
    session = Session(rules=vital_rules())
    session.feed(Observation(10, moaas=5, dissociation="severe", respiratory="normal"))
    assert session.events == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"moaas": 6}, "moaas must be a whole score from 0 to 5, got 6"),
        ({"moaas": True}, "moaas must be a whole score from 0 to 5, got True"),
        ({"moaas": 2.5}, "moaas must be a whole score from 0 to 5, got 2.5"),
        ({"dissociation": "extreme"}, "dissociation must be one of none, mild, moderate, severe"),
        ({"respiratory": "slow"}, "respiratory must be one of normal, depressed"),
    ],
)
def test_an_observation_the_engine_cannot_read_is_refused(fields: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Observation(1.0, **fields)


def test_an_observation_after_the_session_ended_is_refused() -> None:
    from app.alerts import SessionClosed

    session = Session(rules=vital_rules())
    session.feed(SessionEnded(10))
    with pytest.raises(SessionClosed):
        session.feed(Observation(20, moaas=5))


# --- the observation that falls due


def test_an_observation_is_due_15_minutes_after_the_dose_and_after_each_observation() -> None:
    session = Session()
    session.feed(nibp(0, 120), DoseMarked(100))
    assert [e for e in session.ticks(1, 999) if e.rule == "observation_due"] == []
    events = [e for e in session.ticks(1000, 1000) if e.rule == "observation_due"]
    assert brief(events) == [(1000.0, "raised", "observation_due")]
    assert (events[0].kind, events[0].priority) == ("advisory", "low")
    assert events[0].message == (
        "Observation due: no sedation/dissociation/breathing check for 15 min since the dose"
    )
    events = session.feed(Observation(1200, moaas=5, dissociation="mild"))
    assert brief(events) == [(1200.0, "cleared", "observation_due")]
    assert events[0].message == "Cleared: observation recorded"
    # Early is fine: the next one is due 15 min after the last.
    session.feed(Observation(1900, moaas=5))
    due = [e for e in session.ticks(1901, 2800) if e.rule == "observation_due"]
    assert brief(due) == [(2800.0, "raised", "observation_due")]
    assert "since the last observation" in due[0].message
    # Until the session ends.
    ended = session.feed(SessionEnded(2900))
    assert ("cleared", "observation_due") in [(e.event, e.rule) for e in ended]


def test_no_observation_is_due_before_the_dose() -> None:
    session = Session()
    session.feed(nibp(0, 120), Observation(10, moaas=5))
    assert [e for e in session.ticks(11, 4000) if e.rule == "observation_due"] == []


def test_the_interval_is_the_rule_sets() -> None:
    rules = load_rules({"protocol": "iv-ketamine", "observation_interval_s": 600})
    assert rules.observation_interval_s == 600
    session = Session("iv-ketamine", rules=rules)
    session.feed(nibp(0, 120), DoseMarked(100))
    due = [e for e in session.ticks(1, 700) if e.rule == "observation_due"]
    assert brief(due) == [(700.0, "raised", "observation_due")]


# --- rule files and state


def test_a_rule_file_sets_the_respiratory_numbers_and_turns_rules_off() -> None:
    rules = load_rules(
        {
            "protocol": "spravato",
            "rules": [
                {"id": "rr_low", "threshold": 10, "clear_threshold": 12, "persist_s": 20},
                {"id": "apnoea", "persist_s": 15, "etco2_threshold": 4},
                {"id": "sedation_moderate", "enabled": False},
            ],
            "disable": ["observation_due"],
        }
    )
    assert (rules.get("rr_low").threshold, rules.get("rr_low").persist_s) == (10, 20)
    assert (rules.get("apnoea").persist_s, rules.get("apnoea").etco2_threshold) == (15, 4)
    session = Session(rules=replace(rules, observation_interval_s=60))
    session.feed(nibp(0, 120), breaths(1, 20, rr=10))
    assert raised(session) == []
    session.feed(breaths(21, 21, rr=10), Observation(22, moaas=2), DoseMarked(23))
    session.feed(breaths(24, 250))
    assert raised(session) == ["rr_low"]  # no moderate sedation alert, no observation due


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"id": "apnoea", "etco2_threshold": None}, r"apnoea.etco2_threshold: required"),
        ({"id": "apnoea", "vital": "etco2"}, r"apnoea.vital: an 'apnoea' rule is on rr"),
        ({"id": "apnoea", "threshold": -1}, r"apnoea.threshold: breaths/min cannot be negative"),
        ({"id": "rr_low", "etco2_threshold": 5}, r"rr_low.etco2_threshold: not used"),
        ({"id": "sedation_deep", "threshold": 1.5}, r"sedation_deep.threshold: a MOAA/S score"),
        ({"id": "sedation_deep", "threshold": 6}, r"sedation_deep.threshold: a MOAA/S score"),
        ({"id": "respiratory_depressed", "vital": "rr"}, r"respiratory_depressed.vital"),
        ({"id": "respiratory_depressed", "threshold": 1}, r"respiratory_depressed.threshold"),
        ({"id": "rr_low", "condition": "rise_above_baseline"}, r"rr_low.vital: a baseline"),
        ({"id": "rr_low", "threshold": "eight"}, r"rr_low.threshold: must be a number"),
    ],
)
def test_a_rule_file_with_a_bad_respiratory_or_observation_rule_is_refused(
    entry: dict, problem: str
) -> None:
    with pytest.raises(RuleError, match=problem):
        load_rules({"protocol": "spravato", "rules": [entry]})


def test_a_bad_observation_interval_is_refused() -> None:
    for bad in (0, -900, "15 min"):
        with pytest.raises(RuleError, match="observation_interval_s"):
            load_rules({"protocol": "spravato", "observation_interval_s": bad})


def test_state_keeps_the_etco2_baseline_and_the_last_observation_across_a_restart() -> None:
    session = Session()
    session.feed(nibp(0, 120), breaths(1, 300, etco2=37), DoseMarked(300.5))
    session.feed(Observation(400, moaas=2))
    saved = state_to_dict(session.state)
    restored = state_from_dict(saved)
    assert restored.baseline.etco2 == 37 and restored.last_observation_t == 400
    assert "sedation_moderate" in restored.book.open
    # A state stored before capnography and observations existed still restores.
    for key in ("last_observation_t", "last_moaas", "last_respiratory"):
        del saved[key]
    del saved["baseline"]["etco2"]
    older = state_from_dict(saved)
    assert older.baseline.etco2 is None and older.last_observation_t is None


# --- traces


def test_a_trace_may_carry_etco2_and_rr_columns_after_the_others(tmp_path: Path) -> None:
    from app.trace import TraceError, run_offline, scan_trace

    path = tmp_path / "capnograph.csv"
    rows = [f"{t},,,,72,97,38" for t in range(0, 60)] + [f"{t},,,,72,97,53" for t in range(60, 91)]
    path.write_text("t_s,sbp,dbp,map,hr,spo2,etco2\n" + "\n".join(rows) + "\n")
    assert [row.etco2 for row in scan_trace(path)][:2] == [38, 38]
    events = list(run_offline(path, "spravato", rules=vital_rules()))
    assert [(e["t_s"], e["event"], e["rule"], e["vital"]) for e in events] == [
        (90.0, "raised", "etco2_high", "etco2")
    ]
    for header in ("t_s,sbp,dbp,map,hr,spo2,rr,rr", "t_s,sbp,dbp,map,hr,spo2,co2"):
        path.write_text(header + "\n0,,,,72,97,14,14\n")
        with pytest.raises(TraceError, match=r"header must be t_s,sbp,dbp,map,hr,spo2\[,rr\]"):
            list(scan_trace(path))
