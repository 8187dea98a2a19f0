"""Threshold rules on one vital: persistence before raising, hysteresis and a hold before clearing.

A condition on a 1 Hz vital "holds continuously" over consecutive samples that all meet it; a
gap between samples longer than the no-data window breaks the run, because samples that far
apart do not show what happened in between. NIBP rules (no persistence) act on one reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.alerts.events import AlertEvent
from app.alerts.inputs import Reading
from app.alerts.messages import threshold_text
from app.alerts.rules import PRIORITY_RANK, THRESHOLD_CONDITIONS, Rule

if TYPE_CHECKING:
    from app.alerts.state import EngineState


@dataclass(slots=True)
class Persistence:
    """The current run of samples meeting a rule's raise (``since``) or clear condition."""

    since: float | None = None
    clear_since: float | None = None
    last_t: float | None = None


@dataclass(frozen=True, slots=True)
class VitalCheck:
    """A threshold rule prepared for the hot path."""

    rule: Rule
    upward: bool  # above / rise: raise at ≥ threshold, clear below clear; below: the mirror
    rise: bool
    threshold: float
    clear: float
    chained: bool  # needs persistence tracking (persist_s or clear_hold_s > 0)


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
        check = VitalCheck(
            rule=rule,
            upward=rule.condition != "below",
            rise=rule.condition == "rise_above_baseline",
            threshold=threshold,
            clear=clear,
            chained=rule.persist_s > 0 or rule.clear_hold_s > 0,
        )
        by_vital.setdefault(rule.vital, []).append(check)
    return {
        vital: tuple(sorted(checks, key=lambda c: PRIORITY_RANK[c.rule.priority]))
        for vital, checks in by_vital.items()
    }


def observe(
    check: VitalCheck, chains: dict[str, Persistence], t: float, x: float, max_gap_s: float
) -> tuple[bool, bool]:
    """Feed one sample; whether the raise condition and the clear condition have now held
    for the rule's persist_s and clear_hold_s."""
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
        if t - run.last_t > max_gap_s:
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


def evaluate_vitals(state: EngineState, reading: Reading) -> list[AlertEvent]:
    """Raise, latch or clear the threshold alerts one accepted reading bears on."""
    events: list[AlertEvent] = []
    index, book = state.index, state.book
    dosed = state.dose_at is not None
    for vital, value in (
        ("sbp", reading.sbp),
        ("dbp", reading.dbp),
        ("map", reading.map),
        ("hr", reading.hr),
        ("spo2", reading.spo2),
    ):
        if value is None:
            continue
        for check in index.checks.get(vital, ()):
            base = None
            x = value
            if check.rise:
                # Rise rules need a dose and a baseline; absolute limits apply from the start.
                base = state.baseline.of(vital)
                if not dosed or base is None:
                    continue
                x = value - base
            raise_ok, clear_ok = observe(check, state.chains, reading.t, x, index.max_gap_s)
            rule = check.rule
            alert = book.open.get(rule.id)
            if alert is None:
                if raise_ok and not index.blocked(rule.id, book.open):
                    text = threshold_text(rule, value, base, clearing=False)
                    events += book.raise_alert(rule, index.by_id, state.now, value, text)
            elif alert.condition_ended:
                if raise_ok:
                    alert.condition_ended = False  # back while latched: the same alert goes on
            elif clear_ok:
                text = threshold_text(rule, value, base, clearing=True)
                events += book.end_condition(rule, state.now, value, text)
    return events
