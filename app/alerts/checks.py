"""Technical and protocol checks: missing data, a lost vital, overdue BP, the monitor link,
rejected readings, and the advisories that fall due at and after the dose."""

from __future__ import annotations

from typing import Literal

from app.alerts import conditions, messages, observations
from app.alerts.breathing import apnoea_on_time
from app.alerts.conditions import VitalStream
from app.alerts.events import AlertEvent
from app.alerts.inputs import Reading, ReadingRejected
from app.alerts.rules import CONTINUOUS_VITALS, Rule
from app.alerts.state import EngineState

CycleSource = Literal["session", "protocol", "measured"]
# How many of the cuff's last intervals its learnt cycle is the longest of: a re-measure or
# two between automatic cycles (the nurse's, or confirm by re-measure) must not shorten it.
NIBP_INTERVALS_KEPT = 4


def _raise(
    state: EngineState,
    rule: Rule,
    value: float | None,
    message: str,
    *,
    momentary: bool = False,
) -> list[AlertEvent]:
    book = state.book
    if rule.id in book.open or state.index.blocked(rule.id, book.open):
        return []
    return book.raise_alert(rule, state.index.by_id, state.now, value, message, momentary=momentary)


def _clear(state: EngineState, condition: str, text: str) -> list[AlertEvent]:
    rule = state.index.event_rules.get(condition)
    if rule is None or rule.id not in state.book.open:
        return []
    return state.book.end_condition(rule, state.now, None, text)


def on_reading(state: EngineState, reading: Reading) -> list[AlertEvent]:
    """Data arrived: record it and clear what waited for it."""
    state.last_data_at = state.now
    events = _clear(state, "no_data", "data from monitor resumed") if state.book.open else []
    events += _track_vitals(state, reading)
    if not reading.is_nibp:
        return events
    state.last_nibp_at = state.now
    if state.last_nibp_t is None or reading.t > state.last_nibp_t:
        if state.last_nibp_t is not None:
            # The cuff's own cycle, for a session that sets none.
            recent = [*state.nibp_intervals, reading.t - state.last_nibp_t]
            state.nibp_intervals = recent[-NIBP_INTERVALS_KEPT:]
        state.last_nibp_t = reading.t
    dose_at = state.dose_at
    check = state.index.event_rules.get("postdose_check_due")
    if dose_at is not None and check is not None and check.threshold and check.window_s:
        due = dose_at + check.threshold
        if due - check.window_s <= reading.t <= due:
            state.postdose_bp_seen = True
    if state.book.open:
        bp = messages.bp(reading.sbp, reading.dbp)
        events += _clear(state, "bp_overdue", "BP reading received")
        events += _clear(state, "postdose_check_due", f"BP {bp} mmHg recorded")
        if reading.sbp is not None:
            events += _clear(
                state,
                "predose_bp_missing",
                f"BP {bp} mmHg recorded after the dose (no baseline: rise alerts stay off)",
            )
    return events


def _track_vitals(state: EngineState, reading: Reading) -> list[AlertEvent]:
    """Note when each continuous vital arrived; a vital back clears its lost alert, a vital
    absent while another continues raises one."""
    streams, lost, book = state.streams, state.index.lost_rules, state.book
    events: list[AlertEvent] = []
    absent: list[str] = []
    for vital in CONTINUOUS_VITALS:
        value = getattr(reading, vital)
        if value is None:
            absent.append(vital)
            continue
        stream = streams.get(vital)
        if stream is None:
            streams[vital] = VitalStream(reading.t)
        else:
            stream.add(reading.t)
        rule = lost.get(vital)
        if rule is not None and rule.id in book.open:
            label = messages.LABELS.get(vital, vital)
            events += book.end_condition(rule, state.now, value, f"{label} received again")
    for gone in absent:
        rule = lost.get(gone)
        stream = streams.get(gone)
        if rule is None or stream is None or rule.id in book.open:
            continue
        window = rule.threshold or 0.0
        cadence = stream.cadence
        if cadence is None or cadence >= window:
            continue  # it was not arriving often enough for its absence to be news
        # Another vital still arriving (not just back after a silence, when the rest of the
        # monitor's readings may be a moment behind) that long after it: this one is lost.
        others = [
            s.last_t
            for v, s in streams.items()
            if v != gone and s.interval is not None and s.interval < window
        ]
        if others and max(others) - stream.last_t >= window:
            events += _raise(state, rule, None, messages.vital_lost(rule))
    return events


def nibp_cycle(state: EngineState) -> tuple[float, CycleSource]:
    """The NIBP interval the session expects, and where it comes from: the session's own;
    else the rule set's, or the longer cycle the cuff is seen to run (the longest of its last
    few intervals, so a quick re-measure does not shorten it)."""
    own = state.setup.nibp_cycle_s
    if own is not None:
        return own, "session"
    default = state.setup.rules.nibp_interval_s
    seen = max(state.nibp_intervals, default=0.0)
    return (seen, "measured") if seen > default else (default, "protocol")


def on_dose(state: EngineState, dose_at: float) -> list[AlertEvent]:
    """The dose: fix the baseline and check the pre-dose BP."""
    state.dose_at = dose_at
    state.pending_dose = None
    history = state.history
    state.baseline = history.baseline(dose_at)
    events: list[AlertEvent] = []
    missing = state.index.event_rules.get("predose_bp_missing")
    if missing is not None and state.baseline.sbp is None:
        text = messages.predose_bp_missing(history.window_s)
        events += _raise(state, missing, None, text)
    elevated = state.index.event_rules.get("predose_bp_elevated")
    latest = history.latest_bp(dose_at)
    if elevated is not None and latest is not None:
        sbp, dbp = latest
        sbp_limit, dbp_limit = elevated.threshold, elevated.dbp_threshold
        high_sbp = sbp is not None and sbp_limit is not None and sbp > sbp_limit
        high_dbp = dbp is not None and dbp_limit is not None and dbp > dbp_limit
        if high_sbp or high_dbp:
            text = messages.predose_bp_elevated(elevated, sbp, dbp)
            value = sbp if elevated.vital != "dbp" else dbp
            events += _raise(state, elevated, value, text, momentary=True)
    history.clear()  # the baseline is fixed; the raw pre-dose readings are no longer needed
    return events


def on_rejected(state: EngineState, rejected: ReadingRejected) -> list[AlertEvent]:
    """Count rejected readings; too many in the window is a technical alert."""
    rule = state.index.event_rules.get("rejected_readings")
    if rule is None or rule.window_s is None or rule.threshold is None:
        return []
    recent = state.rejected_at
    recent.append(state.now)
    while recent and recent[0] <= state.now - rule.window_s:
        recent.popleft()
    state.last_rejected_at = state.now
    if len(recent) < rule.threshold:
        return []
    text = messages.rejected_readings(len(recent), rule.window_s, rejected.code)
    return _raise(state, rule, float(len(recent)), text)


def on_connected(state: EngineState) -> list[AlertEvent]:
    state.disconnected_at = None
    # A monitor that reconnects gets one no-data window to resume (it usually sends what it
    # buffered at once), so a reconnection does not flash a no-data alert for a second.
    state.last_data_at = max(state.last_data_at, state.now)
    return _clear(state, "monitor_disconnected", "monitor reconnected")


def on_disconnected(state: EngineState) -> None:
    if state.disconnected_at is None:
        state.disconnected_at = state.now


def on_time(state: EngineState) -> list[AlertEvent]:
    """Whatever has fallen due by ``state.now``; run after every input."""
    now, rules, book = state.now, state.index.event_rules, state.book
    events: list[AlertEvent] = []
    # The link check comes first: when it fires, it supersedes the no-data alert.
    rule = rules.get("monitor_disconnected")
    since = state.disconnected_at
    if (
        rule is not None
        and rule.id not in book.open
        and since is not None
        and now - since >= (rule.threshold or 0)
    ):
        events += _raise(state, rule, None, messages.monitor_disconnected(rule))
    rule = rules.get("no_data")
    if (
        rule is not None
        and rule.id not in book.open
        and now - state.last_data_at >= (rule.threshold or 0)
    ):
        events += _raise(state, rule, None, messages.no_data(rule))
    rule = rules.get("bp_overdue")
    if rule is not None:
        elapsed, multiple = now - state.last_nibp_at, rule.threshold or 0
        is_open = rule.id in book.open
        # The expected cycle is never shorter than the session's or the rule set's interval.
        shortest = state.setup.nibp_cycle_s or state.setup.rules.nibp_interval_s
        if is_open or elapsed >= multiple * shortest:
            cycle, source = nibp_cycle(state)
            overdue = elapsed >= multiple * cycle
            if overdue and not is_open:
                events += _raise(state, rule, None, messages.bp_overdue(rule, cycle, source))
            elif not overdue and is_open:
                # Only a new set-up does this (a longer interval): else a reading clears it.
                text = f"BP not overdue on a cuff cycle of {messages.duration(cycle)}"
                events += book.end_condition(rule, now, None, text)
    if state.streams:
        # Apnoea first: raised, it blocks the low-RR alerts it supersedes at this same instant.
        events += apnoea_on_time(state)
        events += conditions.evaluate_time(state)
    events += observations.reassess(state)
    if state.bp_unconfirmed is not None:
        events += conditions.remeasure_due(state)
    if state.dose_at is not None:
        events += _after_dose(state, state.dose_at)
    rule = rules.get("rejected_readings")
    if rule is not None and state.last_rejected_at is not None and rule.id in book.open:
        hold = rule.clear_hold_s or rule.window_s or 0
        if now - state.last_rejected_at >= hold:
            events += book.end_condition(
                rule, now, None, f"no rejected reading for {messages.duration(hold)}"
            )
    if book.open:
        events += book.due(now, state.index.by_id, state.latest)
    return events


def _after_dose(state: EngineState, dose_at: float) -> list[AlertEvent]:
    now, rules = state.now, state.index.event_rules
    events: list[AlertEvent] = []
    rule = rules.get("postdose_check_due")
    if rule is not None and not state.postdose_checked and now >= dose_at + (rule.threshold or 0):
        state.postdose_checked = True
        if not state.postdose_bp_seen:
            events += _raise(state, rule, None, messages.postdose_check_due(rule))
    rule = rules.get("discharge_review")
    if rule is not None and not state.discharge_done and now >= dose_at + (rule.threshold or 0):
        state.discharge_done = True
        since_dose = state.last_nibp_t is not None and state.last_nibp_t >= dose_at
        text = messages.discharge_review(
            rule, state.latest.get("sbp"), state.baseline.sbp, since_dose
        )
        events += _raise(state, rule, None, text, momentary=True)
    events += observations.observation_due(state, dose_at)
    return events
