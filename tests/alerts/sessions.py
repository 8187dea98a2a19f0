"""Driving one engine session in a test: set it up, feed it inputs, read what happened."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from app.alerts import (
    AlertEvent,
    EngineState,
    Input,
    Reading,
    RuleSet,
    SessionSetup,
    Tick,
    default_rules,
    new_state,
    step,
)


class Session:
    """One engine session with every event it emitted so far."""

    def __init__(
        self,
        protocol: str = "spravato",
        *,
        dose_at: float | None = None,
        rules: RuleSet | None = None,
        started_at: float = 0.0,
        nibp_cycle_s: float | None = None,
    ) -> None:
        setup = SessionSetup(
            protocol,
            started_at,
            dose_at,
            rules if rules is not None else default_rules(protocol),
            nibp_cycle_s=nibp_cycle_s,
        )
        self.state: EngineState = new_state(setup)
        self.events: list[AlertEvent] = []

    def feed(self, *inputs: Input | Iterable[Input]) -> list[AlertEvent]:
        """Apply inputs (or iterables of them) in order; the events they caused."""
        new: list[AlertEvent] = []
        for item in inputs:
            for one in [item] if not isinstance(item, Iterable) else item:
                self.state, events = step(self.state, one)
                new += events
        self.events += new
        return new

    def ticks(self, start: float, end: float) -> list[AlertEvent]:
        """A tick every second from ``start`` up to and including ``end``."""
        return self.feed(Tick(float(t)) for t in range(int(start), int(end) + 1))

    def open_rules(self) -> list[str]:
        return list(self.state.book.open)

    def alert(self, rule: str) -> int:
        """The number of the open alert of ``rule``."""
        return self.state.book.open[rule].alert_no


def vital_rules(protocol: str = "spravato") -> RuleSet:
    """The default rules with the technical and advisory ones off, to test vitals alone."""
    rules = default_rules(protocol)
    return replace(rules, rules=tuple(replace(r, enabled=r.kind == "physiological") for r in rules))


def changed(rules: RuleSet, rule_id: str, **fields: object) -> RuleSet:
    """``rules`` with some fields of one rule changed (as a clinic's rule file does)."""
    return replace(
        rules, rules=tuple(replace(r, **fields) if r.id == rule_id else r for r in rules)
    )


def oximetry(start: float, end: float, *, hr: float = 72, spo2: float = 97) -> list[Reading]:
    """1 Hz HR/SpO2 readings from ``start`` up to and including ``end``."""
    return [Reading(float(t), hr=hr, spo2=spo2) for t in range(int(start), int(end) + 1)]


def nibp(t: float, sbp: float, dbp: float = 80) -> Reading:
    return Reading(t, sbp=sbp, dbp=dbp, map=round(dbp + (sbp - dbp) / 3))


def brief(events: Iterable[AlertEvent]) -> list[tuple[float, str, str]]:
    """(time, event, rule) of each event: what a scenario asserts on."""
    return [(e.t, e.event, e.rule) for e in events]
