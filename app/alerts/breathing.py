"""Apnoea: no breath while a capnograph is connected, from RR and EtCO2 together.

No single vital says it: a capnograph shows the last breath's EtCO2 for a while after breathing
stops and its RR falls to 0 only after its own window, so either sign is enough (RR at or below
the rule's ``threshold``, or EtCO2 below its ``etco2_threshold``). It applies only while EtCO2
is arriving: RR 0 from another source (impedance pneumography) with no capnograph is too often
an artefact to call apnoea, and the low-RR rules cover it. Persistence, the clear hold and the
gap that restarts them are counted as for any continuous vital (``conditions``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.alerts import messages
from app.alerts.conditions import VitalCheck, _held, observe
from app.alerts.events import AlertEvent
from app.alerts.inputs import Reading

if TYPE_CHECKING:
    from app.alerts.state import EngineState

# The vitals a capnograph sends; the one that last fed the count stands for the next sample.
CAPNOGRAPH = ("etco2", "rr")


def _gap(state: EngineState) -> float:
    """How long EtCO2 may be missing before the capnograph counts as disconnected: its lost
    window (``etco2_lost``), else the no-data one."""
    return state.index.gaps.get("etco2", state.index.max_gap_s)


def capnograph_connected(state: EngineState, t: float) -> bool:
    """EtCO2 has been arriving, and its last sample is within the lost window of ``t``."""
    stream = state.streams.get("etco2")
    return stream is not None and t - stream.last_t < _gap(state)


def evaluate_apnoea(state: EngineState, reading: Reading) -> list[AlertEvent]:
    """Feed one reading's RR and EtCO2 to the apnoea rule."""
    check = state.index.apnoea
    if check is None or (reading.rr is None and reading.etco2 is None):
        return []
    if not capnograph_connected(state, reading.t):
        return []
    rule = check.rule
    rr_limit = rule.threshold or 0.0
    co2_limit = rule.etco2_threshold or 0.0
    no_breath = (reading.rr is not None and reading.rr <= rr_limit) or (
        reading.etco2 is not None and reading.etco2 < co2_limit
    )
    raise_ok, clear_ok = observe(check, state.chains, reading.t, float(no_breath), _gap(state))
    return _apply(state, check, raise_ok, clear_ok)


def apnoea_on_time(state: EngineState) -> list[AlertEvent]:
    """Complete the persistence (or clear hold) on the clock: between the capnograph's samples
    the last one stands until the next is due."""
    check = state.index.apnoea
    if check is None:
        return []
    run = state.chains.get(check.rule.id)
    now = state.now
    if run is None or run.last_t is None or now <= run.last_t:
        return []
    for vital in CAPNOGRAPH:
        stream = state.streams.get(vital)
        if stream is None or stream.last_t != run.last_t:
            continue
        cadence = stream.cadence
        if cadence is None or now > stream.last_t + cadence or cadence >= _gap(state):
            return []
        raise_ok, clear_ok = _held(check, run, now)
        return _apply(state, check, raise_ok, clear_ok)
    return []


def _apply(
    state: EngineState, check: VitalCheck, raise_ok: bool, clear_ok: bool
) -> list[AlertEvent]:
    rule, book = check.rule, state.book
    rr, etco2 = state.latest.get("rr"), state.latest.get("etco2")
    alert = book.open.get(rule.id)
    if alert is None:
        if raise_ok and not state.index.blocked(rule.id, book.open):
            text = messages.apnoea(rule, rr, etco2, clearing=False)
            return book.raise_alert(rule, state.index.by_id, state.now, rr, text)
    elif alert.condition_ended:
        if raise_ok:
            alert.condition_ended = False  # stopped again while latched: the same alert goes on
    elif clear_ok:
        return book.end_condition(rule, state.now, rr, messages.apnoea(rule, rr, etco2, True))
    return []
