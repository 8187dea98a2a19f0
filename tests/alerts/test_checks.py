"""Technical and protocol alerts: data, link, overdue BP, rejected readings, dose-time checks,
the 40-minute check and the discharge review."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.alerts import (
    Acknowledge,
    AlertEvent,
    DeviceConnected,
    DeviceDisconnected,
    DoseAlreadyMarked,
    DoseMarked,
    Reading,
    ReadingRejected,
    Tick,
    default_rules,
    state_from_dict,
    state_to_dict,
    with_setup,
)
from app.alerts.checks import nibp_cycle
from tests.alerts.sessions import Session, brief, changed, nibp, oximetry


def only(events: list[AlertEvent], *rules: str) -> list[tuple[float, str, str]]:
    return [row for row in brief(events) if row[2] in rules]


def test_no_reading_for_30_seconds_raises_no_data_and_a_reading_clears_it() -> None:
    session = Session()
    session.feed(oximetry(0, 10))
    assert session.ticks(11, 39) == []
    (raised,) = session.ticks(40, 40)
    assert (raised.rule, raised.priority, raised.kind, raised.vital, raised.value) == (
        "no_data",
        "medium",
        "technical",
        None,
        None,
    )
    assert raised.message == "No data from monitor for 30 s"
    assert brief(session.feed(Reading(45, hr=70))) == [(45.0, "cleared", "no_data")]


def test_no_data_counts_from_the_session_start() -> None:
    session = Session(started_at=1000.0)
    assert brief(session.ticks(1000, 1030)) == [(1030.0, "raised", "no_data")]


def test_rejected_readings_are_not_data() -> None:
    session = Session()
    session.feed(oximetry(0, 0), (ReadingRejected(float(t), "out_of_range") for t in (10, 25)))
    assert only(session.ticks(1, 30), "no_data") == [(30.0, "raised", "no_data")]


def test_monitor_disconnected_for_10_seconds_raises_and_supersedes_no_data() -> None:
    session = Session()
    session.feed(oximetry(0, 10), DeviceDisconnected(11))
    assert session.ticks(11, 20) == []
    assert brief(session.ticks(21, 120)) == [(21.0, "raised", "monitor_disconnected")]
    # One alert per problem: no_data stays quiet while the link alert is open.
    assert brief(session.feed(DeviceConnected(125))) == [(125.0, "cleared", "monitor_disconnected")]
    # Reconnected, the monitor gets one no-data window to resume sending.
    assert brief(session.ticks(126, 160)) == [(155.0, "raised", "no_data")]


def test_monitor_reconnecting_within_10_seconds_raises_nothing() -> None:
    session = Session()
    session.feed(oximetry(0, 5), DeviceDisconnected(6), Tick(10), DeviceConnected(12))
    assert session.feed(oximetry(13, 20)) == []


def test_no_nibp_for_one_and_a_half_cycles_raises_bp_overdue() -> None:
    session = Session(nibp_cycle_s=300)
    session.feed(nibp(0, 120))
    session.feed(oximetry(1, 449))
    events = session.feed(oximetry(450, 460))
    assert brief(events) == [(450.0, "raised", "bp_overdue")]
    assert (events[0].priority, events[0].kind) == ("low", "technical")
    assert events[0].message == "No BP reading for 7.5 min (cuff cycle 5 min)"
    assert brief(session.feed(nibp(500, 121))) == [(500.0, "cleared", "bp_overdue")]


def test_bp_overdue_follows_the_sessions_expected_cycle() -> None:
    session = Session(nibp_cycle_s=600)
    session.feed(nibp(0, 120), oximetry(1, 899))
    assert only(session.feed(oximetry(900, 900)), "bp_overdue") == [(900.0, "raised", "bp_overdue")]


def test_one_failed_cuff_cycle_on_a_five_minute_schedule_makes_bp_overdue() -> None:
    # A failed cycle sends nothing: the BP shown is then 10 min old by the next cycle.
    session = Session(nibp_cycle_s=300)
    session.feed(nibp(0, 120), oximetry(1, 599), nibp(600, 122), oximetry(601, 610))
    assert only(session.events, "bp_overdue") == [
        (450.0, "raised", "bp_overdue"),
        (600.0, "cleared", "bp_overdue"),
    ]


def test_three_rejected_readings_within_a_minute_raise_a_low_technical_alert() -> None:
    session = Session()
    session.feed(oximetry(0, 5))
    rejected = [ReadingRejected(t, "out_of_range") for t in (6.0, 30.0)]
    assert session.feed(rejected, oximetry(31, 40)) == []
    events = session.feed(ReadingRejected(60.0, "dbp_not_below_sbp"))
    assert brief(events) == [(60.0, "raised", "rejected_readings")]
    assert events[0].message == "3 readings rejected in 1 min (last: dbp_not_below_sbp)"
    session.feed(oximetry(41, 119))
    assert only(session.feed(oximetry(120, 121)), "rejected_readings") == [
        (120.0, "cleared", "rejected_readings")
    ]


def test_two_rejected_readings_a_minute_apart_raise_nothing() -> None:
    session = Session()
    session.feed(oximetry(0, 5), ReadingRejected(6, "out_of_range"), oximetry(7, 65))
    session.feed(ReadingRejected(66, "out_of_range"), oximetry(67, 126))
    session.feed(ReadingRejected(127, "out_of_range"), oximetry(128, 130))
    assert session.events == []


def test_dose_without_a_bp_in_the_previous_30_minutes_raises_predose_bp_missing() -> None:
    session = Session()
    session.feed(nibp(0, 120), oximetry(1, 1900))
    events = session.feed(DoseMarked(1900))
    assert brief(events) == [(1900.0, "raised", "predose_bp_missing")]
    assert (events[0].priority, events[0].kind) == ("low", "advisory")
    assert "rise alerts off" in events[0].message
    (cleared,) = only(session.feed(nibp(1950, 125)), "predose_bp_missing")
    assert cleared == (1950.0, "cleared", "predose_bp_missing")
    assert session.state.baseline.sbp is None  # still no baseline: rise rules stay off


@pytest.mark.parametrize(("sbp", "dbp"), [(141, 80), (130, 91)])
def test_pre_dose_bp_above_140_90_raises_an_advisory_until_acknowledged(
    sbp: float, dbp: float
) -> None:
    session = Session()
    session.feed(nibp(0, sbp, dbp), oximetry(1, 100))
    (raised,) = session.feed(DoseMarked(100))
    assert (raised.rule, raised.priority, raised.kind) == ("predose_bp_elevated", "low", "advisory")
    assert raised.message == f"Pre-dose BP {sbp}/{dbp} mmHg above 140/90: prescriber review"
    session.feed(oximetry(101, 400), nibp(401, 120, 75), oximetry(402, 500))
    assert only(session.events, "predose_bp_elevated") == [(100.0, "raised", "predose_bp_elevated")]
    events = session.feed(Acknowledge(501, raised.alert_no, "dr.b", "dosed after review"))
    assert brief(events) == [
        (501.0, "acknowledged", "predose_bp_elevated"),
        (501.0, "cleared", "predose_bp_elevated"),
    ]


def test_pre_dose_bp_of_exactly_140_90_raises_nothing() -> None:
    session = Session()
    session.feed(nibp(0, 140, 90), oximetry(1, 100), DoseMarked(100))
    assert session.events == []


def spravato_dosed_at(dose_at: float) -> Session:
    session = Session()
    session.feed(nibp(0, 120, 78), oximetry(1, dose_at), DoseMarked(dose_at))
    return session


def test_no_bp_between_35_and_45_minutes_after_the_dose_raises_the_40_minute_check() -> None:
    session = spravato_dosed_at(100)
    for minute in range(5, 35, 5):
        session.feed(
            nibp(100 + minute * 60, 125), oximetry(101 + minute * 60, 100 + minute * 60 + 299)
        )
    session.feed(oximetry(100 + 35 * 60, 100 + 45 * 60 + 5))
    raised = only(session.events, "postdose_check_due")
    assert raised == [(2800.0, "raised", "postdose_check_due")]
    assert session.events[-1].message == "Post-dose BP check (40 min) not done"
    assert only(session.feed(nibp(2900, 130)), "postdose_check_due") == [
        (2900.0, "cleared", "postdose_check_due")
    ]


def test_a_bp_at_40_minutes_satisfies_the_check() -> None:
    session = spravato_dosed_at(100)
    session.feed(oximetry(101, 2499), nibp(2500, 130), oximetry(2501, 2900))
    assert only(session.events, "postdose_check_due") == []


def test_iv_ketamine_has_no_40_minute_check() -> None:
    session = Session("iv-ketamine")
    session.feed(nibp(0, 120, 78), oximetry(1, 100), DoseMarked(100), oximetry(101, 3000))
    assert only(session.events, "postdose_check_due") == []


def test_spravato_discharge_review_is_due_2_hours_after_the_dose_and_says_if_bp_settled() -> None:
    session = spravato_dosed_at(0)
    session.feed(nibp(7000, 135, 80), Tick(7199))
    (event,) = only(session.feed(Tick(7200)), "discharge_review")
    assert event == (7200.0, "raised", "discharge_review")
    message = session.events[-1].message
    assert message == (
        "Discharge review due (2 h after the dose): "
        "BP settled, SBP 135 within 20 mmHg of baseline 120"
    )
    assert "leave" not in message and "may" not in message


def test_discharge_review_says_when_bp_has_not_settled() -> None:
    session = spravato_dosed_at(0)
    session.feed(nibp(7000, 158, 80), Tick(7200))
    assert session.events[-1].message.endswith("BP not settled, SBP 158 is +38 from baseline 120")


def test_iv_ketamine_discharge_review_is_due_100_minutes_after_the_dose() -> None:
    session = Session("iv-ketamine")
    session.feed(nibp(0, 120, 78), DoseMarked(10), Tick(6009))
    assert only(session.events, "discharge_review") == []
    session.feed(Tick(6010))
    assert only(session.events, "discharge_review") == [(6010.0, "raised", "discharge_review")]


def test_discharge_review_stays_until_acknowledged_then_clears() -> None:
    session = spravato_dosed_at(0)
    session.feed(nibp(7000, 125, 80), Tick(7200))
    alert_no = session.alert("discharge_review")
    session.feed(Tick(20000))
    assert "discharge_review" in session.open_rules()
    events = session.feed(Acknowledge(20001, alert_no, "dr.b", None))
    assert [e.event for e in events if e.rule == "discharge_review"] == ["acknowledged", "cleared"]


def test_a_dose_known_at_set_up_acts_as_the_clock_passes_it() -> None:
    marked = Session()
    marked.feed(nibp(0, 150, 80), Tick(100), DoseMarked(100), Tick(101))
    known = Session(dose_at=100)
    known.feed(nibp(0, 150, 80), Tick(100), Tick(101))
    assert marked.events == known.events
    assert only(known.events, "predose_bp_elevated") == [(100.0, "raised", "predose_bp_elevated")]


def test_marking_the_dose_twice_is_refused() -> None:
    session = Session()
    session.feed(DoseMarked(10))
    with pytest.raises(DoseAlreadyMarked, match="already marked at 10"):
        session.feed(DoseMarked(20))


def hr_only(start: int, end: int) -> list[Reading]:
    return [Reading(float(t), hr=72) for t in range(start, end + 1)]


def spo2_only(start: int, end: int) -> list[Reading]:
    return [Reading(float(t), spo2=97) for t in range(start, end + 1)]


def test_hr_not_received_for_30_s_while_spo2_continues_raises_a_lost_vital_alert() -> None:
    session = Session()
    session.feed(oximetry(0, 60))
    assert session.feed(spo2_only(61, 89)) == []
    (raised,) = session.feed(spo2_only(90, 120))
    assert (raised.t, raised.rule, raised.priority, raised.kind, raised.vital) == (
        90.0,
        "hr_lost",
        "medium",
        "technical",
        "hr",
    )
    assert raised.message == "HR not received for 30 s — leads or probe off?"
    assert brief(session.feed(oximetry(121, 125))) == [(121.0, "cleared", "hr_lost")]
    assert session.events[-1].message == "Cleared: HR received again"


def test_spo2_not_received_while_hr_continues_names_the_probe() -> None:
    session = Session()
    session.feed(oximetry(0, 10), hr_only(11, 60))
    (raised,) = only(session.events, "spo2_lost")
    assert raised == (40.0, "raised", "spo2_lost")
    assert session.events[-1].message == "SpO2 not received for 30 s — probe off?"


def test_when_nothing_arrives_no_data_is_the_one_alert_not_one_per_vital() -> None:
    session = Session()
    session.feed(oximetry(0, 60))
    assert brief(session.ticks(61, 200)) == [(90.0, "raised", "no_data")]
    assert brief(session.feed(oximetry(201, 210))) == [(201.0, "cleared", "no_data")]


def test_vitals_stopping_a_second_apart_raise_only_no_data() -> None:
    session = Session()
    session.feed(oximetry(0, 60), spo2_only(61, 61))
    assert brief(session.ticks(62, 150)) == [(91.0, "raised", "no_data")]


def test_a_lost_vital_stays_lost_through_a_silence_and_clears_when_it_returns() -> None:
    session = Session()
    session.feed(oximetry(0, 60), spo2_only(61, 100), Tick(130), spo2_only(141, 150))
    session.feed(oximetry(151, 152))
    assert only(session.events, "hr_lost", "no_data") == [
        (90.0, "raised", "hr_lost"),
        (130.0, "raised", "no_data"),  # the whole monitor silent: its own alert
        (141.0, "cleared", "no_data"),  # HR is still lost: the same alert goes on
        (151.0, "cleared", "hr_lost"),
    ]


def test_a_vital_back_first_after_a_silence_does_not_make_the_others_lost() -> None:
    # After a silence the monitor's readings resume a moment apart: HR first, then SpO2.
    session = Session()
    session.feed(oximetry(0, 60), Tick(95))
    assert brief(session.feed(Reading(101, hr=72))) == [(101.0, "cleared", "no_data")]
    assert session.feed(Reading(101.4, spo2=97), oximetry(102, 140)) == []


def test_a_vital_coming_less_often_than_the_lost_window_is_never_lost() -> None:
    # SpO2 spot checks every 40 s beside a 1 Hz HR: it was never arriving about once a second.
    session = Session()
    session.feed(Reading(float(t), hr=72, spo2=97 if t % 40 == 0 else None) for t in range(300))
    assert only(session.events, "spo2_lost") == []


def test_the_lost_window_is_a_clinic_setting() -> None:
    session = Session(rules=changed(default_rules("spravato"), "hr_lost", threshold=45))
    session.feed(oximetry(0, 10), spo2_only(11, 60))
    assert only(session.events, "hr_lost") == [(55.0, "raised", "hr_lost")]


def cuff(session: Session, times: list[float], end: float) -> None:
    """NIBP readings at ``times``, the clock ticking every 5 s up to ``end``."""
    due = sorted(times)
    for t in range(0, int(end) + 1, 5):
        while due and due[0] <= t:
            session.feed(nibp(due.pop(0), 120))
        session.feed(Tick(float(t)))


def cuff_only(protocol: str = "spravato", nibp_cycle_s: float | None = None) -> Session:
    # No oximetry in these sessions: the no-data rule off, so bp_overdue is alone.
    rules = changed(default_rules(protocol), "no_data", enabled=False)
    return Session(protocol, rules=rules, nibp_cycle_s=nibp_cycle_s)


@pytest.mark.parametrize(
    ("protocol", "due", "message"),
    [
        ("spravato", 450.0, "No BP reading for 7.5 min (cuff cycle 5 min, protocol default)"),
        ("iv-ketamine", 900.0, "No BP reading for 15 min (cuff cycle 10 min, protocol default)"),
    ],
)
def test_a_session_without_an_interval_expects_its_protocols_cuff_cycle(
    protocol: str, due: float, message: str
) -> None:
    session = cuff_only(protocol)
    cuff(session, [0.0], 1000)
    assert only(session.events, "bp_overdue") == [(due, "raised", "bp_overdue")]
    assert session.events[0].message == message


def test_a_ten_minute_cuff_is_overdue_once_then_its_own_cycle_is_expected() -> None:
    # Measured before: a 10-minute cuff against a fixed 5-minute expectation raised and
    # cleared bp_overdue 11 times in 2 hours. Now the first 10-minute gap is late against
    # the protocol's 5 min, and from then on the engine expects the cuff's own cycle.
    session = cuff_only()
    cuff(session, [600.0 * k for k in range(13)], 7200)
    assert only(session.events, "bp_overdue") == [
        (450.0, "raised", "bp_overdue"),
        (600.0, "cleared", "bp_overdue"),
    ]
    assert nibp_cycle(session.state) == (600.0, "measured")
    # With the session's interval set to 10 min, never.
    set_by_nurse = cuff_only(nibp_cycle_s=600)
    cuff(set_by_nurse, [600.0 * k for k in range(13)], 7200)
    assert only(set_by_nurse.events, "bp_overdue") == []


def test_a_missed_reading_on_the_cuffs_own_cycle_is_still_overdue() -> None:
    session = cuff_only()
    cuff(session, [0.0, 600, 1200, 1800, 3000, 3600], 3600)  # the 2400 cycle failed
    assert only(session.events, "bp_overdue") == [
        (450.0, "raised", "bp_overdue"),
        (600.0, "cleared", "bp_overdue"),
        (2700.0, "raised", "bp_overdue"),  # 1.5 × 10 min after 1800
        (3000.0, "cleared", "bp_overdue"),
    ]
    assert session.events[2].message == "No BP reading for 15 min (cuff cycle 10 min, as measured)"


def test_a_quick_re_measure_does_not_shorten_the_cycle_the_cuff_is_seen_to_run() -> None:
    session = cuff_only()
    cuff(session, [0.0, 3600, 7200, 7320, 10800, 14400], 14400)  # a re-measure at 7320
    assert only(session.events, "bp_overdue") == [
        (450.0, "raised", "bp_overdue"),
        (3600.0, "cleared", "bp_overdue"),
    ]


def test_the_nurse_changing_the_interval_mid_session_takes_effect_at_once() -> None:
    session = Session(nibp_cycle_s=300)
    session.feed(nibp(0, 120), oximetry(1, 460))
    assert only(session.events, "bp_overdue") == [(450.0, "raised", "bp_overdue")]
    longer = replace(session.state.setup, nibp_cycle_s=900.0)
    session.state = with_setup(session.state, longer)
    assert nibp_cycle(session.state) == (900.0, "session")
    assert only(session.feed(oximetry(461, 461)), "bp_overdue") == [
        (461.0, "cleared", "bp_overdue")
    ]
    assert session.events[-1].message == "Cleared: BP not overdue on a cuff cycle of 15 min"
    # The live runner's route (state_to_dict, new set-up, state_from_dict) is the same.
    data = state_to_dict(session.state)
    data["setup"] = replace(longer, nibp_cycle_s=None).to_dict()
    session.state = state_from_dict(data)
    assert nibp_cycle(session.state) == (300.0, "protocol")
    assert only(session.feed(oximetry(462, 462)), "bp_overdue") == [(462.0, "raised", "bp_overdue")]
