"""Threshold rules on one vital: persistence before raising, hysteresis and a hold before
clearing; and, when a clinic turns it on, confirming a high BP by re-measuring it.

Persistence measures time, not consecutive samples. A condition on a continuous vital starts
at the first sample that meets it and ends at the first sample that does not; a missing or
rejected sample does not end it. Between samples the condition stands until the vital's next
sample is due (one interval of its own cadence), so the clock completes a persistence without
waiting for a sample. A gap as long as the vital's lost window (its ``vital_lost`` rule, else
the no-data window: 30 s) restarts the count: by then the nurse has been told the vital is
lost, and samples that far apart do not show what happened in between. NIBP rules (no
persistence) act on one reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.alerts import messages
from app.alerts.events import AlertEvent
from app.alerts.inputs import Reading
from app.alerts.messages import threshold_text
from app.alerts.rules import NIBP_VITALS, PRIORITY_RANK, THRESHOLD_CONDITIONS, Rule

if TYPE_CHECKING:
    from app.alerts.state import EngineState


@dataclass(slots=True)
class Persistence:
    """The current run of samples meeting a rule's raise (``since``) or clear condition."""

    since: float | None = None
    clear_since: float | None = None
    last_t: float | None = None


@dataclass(slots=True)
class VitalStream:
    """When a continuous vital was last measured, and how often it has been arriving."""

    last_t: float
    interval: float | None = None  # between its last two samples
    previous: float | None = None  # the interval before that

    @property
    def cadence(self) -> float | None:
        """Its usual interval: the shorter of its last two, so one dropout does not change it."""
        if self.interval is None or self.previous is None:
            return self.interval
        return min(self.interval, self.previous)

    def add(self, t: float) -> None:
        if t > self.last_t:  # a late or repeated sample says nothing about the cadence
            self.previous, self.interval, self.last_t = self.interval, t - self.last_t, t

    def to_list(self) -> list[float | None]:
        return [self.last_t, self.interval, self.previous]


@dataclass(frozen=True, slots=True)
class UnconfirmedBP:
    """A high NIBP reading waiting for its re-measure until ``deadline`` (engine clock)."""

    t: float
    deadline: float
    sbp: float | None
    dbp: float | None
    map: float | None

    def to_list(self) -> list[float | None]:
        return [self.t, self.deadline, self.sbp, self.dbp, self.map]

    @classmethod
    def from_list(cls, data: list[Any]) -> UnconfirmedBP:
        t, deadline, sbp, dbp, mean = data
        return cls(t, deadline, sbp, dbp, mean)


@dataclass(frozen=True, slots=True)
class VitalCheck:
    """A threshold rule prepared for the hot path."""

    rule: Rule
    upward: bool  # above / rise: raise at ≥ threshold, clear below clear; below: the mirror
    rise: bool
    threshold: float
    clear: float
    chained: bool  # needs persistence tracking (persist_s or clear_hold_s > 0)
    confirmable: bool  # a high BP on one reading: may wait for a re-measure


def build_checks(rules: Iterable[Rule]) -> dict[str, tuple[VitalCheck, ...]]:
    """Enabled threshold rules per vital, high priority first, so a higher alert raised on a
    reading blocks the lower ones it supersedes on that same reading."""
    by_vital: dict[str, list[VitalCheck]] = {}
    for rule in rules:
        if not rule.enabled or rule.condition not in THRESHOLD_CONDITIONS:
            continue
        assert rule.vital is not None and rule.threshold is not None  # checked by validation
        threshold = rule.threshold
        clear = rule.clear_threshold if rule.clear_threshold is not None else threshold
        chained = rule.persist_s > 0 or rule.clear_hold_s > 0
        upward = rule.condition != "below"
        check = VitalCheck(
            rule=rule,
            upward=upward,
            rise=rule.condition == "rise_above_baseline",
            threshold=threshold,
            clear=clear,
            chained=chained,
            confirmable=upward and not chained and rule.vital in NIBP_VITALS,
        )
        by_vital.setdefault(rule.vital, []).append(check)
    return {
        vital: tuple(sorted(checks, key=lambda c: PRIORITY_RANK[c.rule.priority]))
        for vital, checks in by_vital.items()
    }


def _meets(check: VitalCheck, x: float) -> tuple[bool, bool]:
    if check.upward:
        return x >= check.threshold, x < check.clear
    return x <= check.threshold, x > check.clear


def observe(
    check: VitalCheck, chains: dict[str, Persistence], t: float, x: float, max_gap_s: float
) -> tuple[bool, bool]:
    """Feed one sample; whether the raise condition and the clear condition have now held
    for the rule's persist_s and clear_hold_s. A gap of ``max_gap_s`` or more since the
    previous sample restarts both counts."""
    if check.upward:
        meets, clears = x >= check.threshold, x < check.clear
    else:
        meets, clears = x <= check.threshold, x > check.clear
    if not check.chained:
        return meets, clears
    run = chains.get(check.rule.id)
    if run is None:
        run = chains[check.rule.id] = Persistence()
    if run.last_t is not None:
        if t < run.last_t:
            return False, False  # a late sample cannot extend a run already observed past it
        if t - run.last_t >= max_gap_s:
            run.since = run.clear_since = None
    run.last_t = t
    if not meets:
        run.since = None
    elif run.since is None:
        run.since = t
    if not clears:
        run.clear_since = None
    elif run.clear_since is None:
        run.clear_since = t
    return (
        run.since is not None and t - run.since >= check.rule.persist_s,
        run.clear_since is not None and t - run.clear_since >= check.rule.clear_hold_s,
    )


def _held(check: VitalCheck, run: Persistence, t: float) -> tuple[bool, bool]:
    """What ``observe`` answers, at time ``t`` without a new sample."""
    return (
        run.since is not None and t - run.since >= check.rule.persist_s,
        run.clear_since is not None and t - run.clear_since >= check.rule.clear_hold_s,
    )


def _apply(
    state: EngineState,
    check: VitalCheck,
    raise_ok: bool,
    clear_ok: bool,
    value: float,
    base: float | None,
    note: str = "",
) -> list[AlertEvent]:
    """Raise, latch or clear the alert of one rule as its conditions now stand."""
    rule, book = check.rule, state.book
    alert = book.open.get(rule.id)
    if alert is None:
        if raise_ok and not state.index.blocked(rule.id, book.open):
            text = threshold_text(rule, value, base, clearing=False) + note
            return book.raise_alert(rule, state.index.by_id, state.now, value, text)
    elif alert.condition_ended:
        if raise_ok:
            alert.condition_ended = False  # back while latched: the same alert goes on
    elif clear_ok:
        text = threshold_text(rule, value, base, clearing=True)
        return book.end_condition(rule, state.now, value, text)
    return []


def evaluate_vitals(state: EngineState, reading: Reading) -> list[AlertEvent]:
    """Raise, latch or clear the threshold alerts one accepted reading bears on."""
    events: list[AlertEvent] = []
    index = state.index
    open_alerts = state.book.open
    dosed = state.dose_at is not None
    confirm = index.event_rules.get("bp_remeasure") if index.confirmable else None
    hold = False
    if confirm is not None and reading.is_nibp:
        if state.bp_unconfirmed is not None:
            events += _remeasured(state, confirm, reading)  # judged on its own, below
        else:
            hold = _needs_confirmation(state, confirm, reading)
    held: list[tuple[VitalCheck, float, float | None]] = []
    for vital, value in (
        ("sbp", reading.sbp),
        ("dbp", reading.dbp),
        ("map", reading.map),
        ("hr", reading.hr),
        ("spo2", reading.spo2),
        ("rr", reading.rr),
        ("etco2", reading.etco2),
    ):
        if value is None:
            continue
        gap = index.gaps.get(vital, index.max_gap_s)
        for check in index.checks.get(vital, ()):
            base = None
            x = value
            if check.rise:
                # Rise rules need a dose and a baseline; absolute limits apply from the start.
                base = state.baseline.of(vital)
                if not dosed or base is None:
                    continue
                x = value - base
            raise_ok, clear_ok = observe(check, state.chains, reading.t, x, gap)
            if hold and raise_ok and check.confirmable:
                held.append((check, value, base))
            elif raise_ok or (clear_ok and check.rule.id in open_alerts):
                events += _apply(state, check, raise_ok, clear_ok, value, base)
    if held and confirm is not None:
        events += _ask_remeasure(state, confirm, reading, held)
    return events


def evaluate_time(state: EngineState) -> list[AlertEvent]:
    """Complete the persistence (or clear hold) of continuous vitals on the clock: between
    samples a condition stands until the vital's next sample is due."""
    events: list[AlertEvent] = []
    now, index = state.now, state.index
    for vital, stream in state.streams.items():
        if now <= stream.last_t:
            continue  # a sample at this time has been seen: it was evaluated
        cadence = stream.cadence
        if cadence is None or now > stream.last_t + cadence:
            continue  # the next sample is overdue: the last value no longer stands
        if cadence >= index.gaps.get(vital, index.max_gap_s):
            continue  # not arriving often enough for one sample to stand for the next
        value = state.latest.get(vital)
        if value is None:
            continue
        for check in index.checks.get(vital, ()):
            run = state.chains.get(check.rule.id)
            if run is None or run.last_t != stream.last_t:
                continue
            base = state.baseline.of(vital) if check.rise else None
            raise_ok, clear_ok = _held(check, run, now)
            if raise_ok or clear_ok:
                events += _apply(state, check, raise_ok, clear_ok, value, base)
    return events


def _needs_confirmation(state: EngineState, rule: Rule, reading: Reading) -> bool:
    """A first high reading below the immediate tier waits for its re-measure."""
    if any(rule_id in state.book.open for rule_id in state.index.confirmable):
        return False  # the problem is already confirmed and alarming
    sbp_limit, dbp_limit = rule.threshold, rule.dbp_threshold
    immediate_sbp = reading.sbp is not None and sbp_limit is not None and reading.sbp >= sbp_limit
    immediate_dbp = reading.dbp is not None and dbp_limit is not None and reading.dbp >= dbp_limit
    return not (immediate_sbp or immediate_dbp)


def _ask_remeasure(
    state: EngineState,
    rule: Rule,
    reading: Reading,
    held: list[tuple[VitalCheck, float, float | None]],
) -> list[AlertEvent]:
    window = rule.window_s or 0.0
    state.bp_unconfirmed = UnconfirmedBP(
        reading.t, state.now + window, reading.sbp, reading.dbp, reading.map
    )
    check, value, base = min(held, key=lambda h: PRIORITY_RANK[h[0].rule.priority])
    limit = threshold_text(check.rule, value, base, clearing=False)
    text = messages.remeasure_bp(limit, window)
    if rule.id in state.book.open:
        return []
    return state.book.raise_alert(rule, state.index.by_id, state.now, value, text)


def _remeasured(state: EngineState, rule: Rule, reading: Reading) -> list[AlertEvent]:
    state.bp_unconfirmed = None
    if rule.id not in state.book.open:
        return []
    text = f"BP re-measured: {messages.bp(reading.sbp, reading.dbp)} mmHg"
    return state.book.end_condition(rule, state.now, None, text)


def remeasure_due(state: EngineState) -> list[AlertEvent]:
    """No re-measure in time: the first reading's alerts are raised (never left unheard)."""
    pending = state.bp_unconfirmed
    if pending is None or state.now < pending.deadline:
        return []
    state.bp_unconfirmed = None
    # Its advisory is cleared even if a new set-up has turned the rule off meanwhile.
    rule = state.index.event_rules.get("bp_remeasure") or next(
        (
            r
            for r in map(state.index.by_id.get, state.book.open)
            if r and r.condition == "bp_remeasure"
        ),
        None,
    )
    window = rule.window_s if rule is not None else None
    within = f" within {messages.duration(window)}" if window else ""
    note = f" on one reading, not re-measured{within}"
    events: list[AlertEvent] = []
    dosed = state.dose_at is not None
    for vital, value in (("sbp", pending.sbp), ("dbp", pending.dbp), ("map", pending.map)):
        if value is None:
            continue
        for check in state.index.checks.get(vital, ()):
            if not check.confirmable:
                continue
            base = state.baseline.of(vital) if check.rise else None
            if check.rise and (not dosed or base is None):
                continue
            meets, _ = _meets(check, value - base if base is not None else value)
            if meets and check.rule.id not in state.book.open:
                events += _apply(state, check, True, False, value, base, note)
    if rule is not None and rule.id in state.book.open:
        events += state.book.end_condition(rule, state.now, None, f"not re-measured{within}")
    return events
