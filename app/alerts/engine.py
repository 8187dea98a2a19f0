"""The alert engine's one step: state and an input (with its time) in, alert events out.

The engine never reads a clock: its clock is the largest input time seen so far, and every
event of a step carries that time; an event a reading caused also carries the reading's own
measurement time (``measured_t``), which is earlier when the reading arrived late. Same
inputs, same events, however they are batched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from app.alerts import checks, observations
from app.alerts.baseline import PredoseHistory
from app.alerts.breathing import evaluate_apnoea
from app.alerts.conditions import evaluate_vitals
from app.alerts.errors import DoseAlreadyMarked, SessionClosed
from app.alerts.events import AlertEvent
from app.alerts.inputs import (
    Acknowledge,
    DeviceConnected,
    DeviceDisconnected,
    DoseMarked,
    Input,
    Observation,
    Reading,
    ReadingRejected,
    SessionEnded,
    Tick,
)
from app.alerts.state import EngineState, SessionSetup


def new_state(setup: SessionSetup) -> EngineState:
    """The state of a session that has just started (at ``setup.started_at``)."""
    return EngineState(
        setup=setup,
        now=setup.started_at,
        pending_dose=setup.dose_at,
        history=PredoseHistory(setup.baseline_window_s),
        last_data_at=setup.started_at,
        last_nibp_at=setup.started_at,
    )


def step(state: EngineState, event: Input) -> tuple[EngineState, list[AlertEvent]]:
    """Apply one input and return the state with the alert events it caused.

    ``state`` is updated in place and returned: the caller owns it and ``step`` is its only
    mutator (use ``state_to_dict`` for a snapshot). An input that cannot be applied raises
    before anything changes: AlertNotFound, AlertNotOpen or AlertAlreadyAcknowledged for an
    acknowledgement, DoseAlreadyMarked, SessionClosed after SessionEnded.
    """
    if state.ended:
        raise SessionClosed(f"session ended at {state.now:g}; no further input is accepted")
    ack_target = None
    if isinstance(event, Acknowledge):
        ack_target = state.book.find_for_ack(event.alert_no)
    elif isinstance(event, DoseMarked) and (
        state.dose_at is not None or state.pending_dose is not None
    ):
        marked = state.dose_at if state.dose_at is not None else state.pending_dose
        raise DoseAlreadyMarked(f"the dose was already marked at {marked:g}")
    events: list[AlertEvent] = []
    pending = state.pending_dose
    if pending is not None and event.t > pending:
        # A dose known at set-up takes effect as the clock passes it.
        state.now = max(state.now, pending)
        events += checks.on_dose(state, pending)
    if event.t > state.now:
        state.now = event.t
    if isinstance(event, Reading):
        # What the reading itself caused carries its measurement time beside the clock's.
        caused = _on_reading(state, event)
        events += [dataclasses.replace(e, measured_t=event.t) for e in caused]
    elif isinstance(event, Tick):
        pass
    elif isinstance(event, Observation):
        # Like a reading's, what an observation caused carries the time it was made.
        caused = observations.on_observation(state, event)
        events += [dataclasses.replace(e, measured_t=event.t) for e in caused]
    elif isinstance(event, Acknowledge):
        assert ack_target is not None
        rule = state.index.by_id[ack_target.rule]
        events += state.book.acknowledge(
            ack_target, rule, state.now, event.user, event.note, state.latest
        )
    elif isinstance(event, DoseMarked):
        events += checks.on_dose(state, event.t)
    elif isinstance(event, ReadingRejected):
        events += checks.on_rejected(state, event)
    elif isinstance(event, DeviceDisconnected):
        checks.on_disconnected(state)
    elif isinstance(event, DeviceConnected):
        events += checks.on_connected(state)
    elif isinstance(event, SessionEnded):
        events += state.book.close_all(state.now, state.index.by_id, state.latest)
        state.ended = True
        return state, events
    else:
        raise TypeError(f"not an engine input: {event!r}")
    events += checks.on_time(state)
    return state, events


def _on_reading(state: EngineState, reading: Reading) -> list[AlertEvent]:
    latest = state.latest
    for vital, value in (
        ("sbp", reading.sbp),
        ("dbp", reading.dbp),
        ("map", reading.map),
        ("hr", reading.hr),
        ("spo2", reading.spo2),
        ("rr", reading.rr),
        ("etco2", reading.etco2),
    ):
        if value is not None:
            latest[vital] = value
    if state.dose_at is None:
        state.history.add(reading.t, reading.sbp, reading.dbp, reading.hr, reading.etco2)
    events = checks.on_reading(state, reading)
    # Apnoea first: raised, it blocks the low-RR alerts it supersedes on this same reading.
    events += evaluate_apnoea(state, reading)
    events += evaluate_vitals(state, reading)
    return events


def run(setup: SessionSetup, inputs: Iterable[Input]) -> list[AlertEvent]:
    """All events of a session fed ``inputs`` from its start."""
    state = new_state(setup)
    events: list[AlertEvent] = []
    for item in inputs:
        state, new = step(state, item)
        events += new
    return events
