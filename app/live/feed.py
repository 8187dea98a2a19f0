"""How one open session's inputs reach the alert engine, on one of two clocks.

On the wall clock (live monitoring) the server's one-second ticker drives time-based rules.
On the readings' clock (a replay of a recorded session) time is the readings' own timestamps:
between two readings the engine gets a tick at every whole second, and the dose takes effect as
that clock passes it, exactly as ``chairside replay --offline`` feeds a trace, so a replay at
any speed raises what the offline run raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app import alerts as engine
from app.wire import parse_ts


def epoch(value: str | datetime | None) -> float | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_ts(value)
    return parsed.timestamp() if parsed else None


def engine_reading(message: dict[str, Any]) -> engine.Reading:
    t = epoch(message["ts"])
    assert t is not None
    return engine.Reading(
        t=t,
        sbp=message.get("sbp"),
        dbp=message.get("dbp"),
        map=message.get("map"),
        hr=message.get("hr"),
        spo2=message.get("spo2"),
        rr=message.get("rr"),
        etco2=message.get("etco2"),
    )


def engine_observation(message: dict[str, Any], t: float) -> engine.Observation:
    """A stored observation (its payload) as the engine's input at time ``t``."""
    return engine.Observation(
        t=t,
        moaas=message.get("moaas"),
        dissociation=message.get("dissociation"),
        respiratory=message.get("respiratory"),
    )


@dataclass(frozen=True, slots=True)
class MonitorInput:
    """What the engine was told about the monitor, kept to be stored with the state that saw
    it: ``connected``, ``disconnected`` or ``rejected`` (with ``code``), at the engine's time,
    after the readings up to ``last_reading_id``."""

    at: float
    event: str
    code: str | None
    last_reading_id: int


@dataclass(slots=True)
class LiveSession:
    """An open session's engine state, and where its feed stands."""

    session_id: int
    chair_id: int
    state: engine.EngineState
    readings_clock: bool = False
    last_reading_id: int = 0
    dirty: bool = False
    pending_dose: float | None = None  # readings' clock: the dose, once that clock passes it
    last_t: float | None = None  # readings' clock: the newest reading time fed
    saved_at: float = 0.0  # wall time its state was last stored
    setup_stored: bool = False  # the stored row holds the current set-up (rules and all)
    monitor_inputs: list[MonitorInput] = field(default_factory=list)  # not stored yet
    last_observation_id: int = 0  # the newest of the session's observations fed

    @property
    def dose_known(self) -> bool:
        state = self.state
        return not (
            state.dose_at is None and state.pending_dose is None and self.pending_dose is None
        )

    def step(self, item: engine.Input) -> list[engine.AlertEvent]:
        self.state, events = engine.step(self.state, item)
        self.dirty = True
        return events

    def tick(self, now: float) -> list[engine.AlertEvent]:
        """The wall clock's tick; a session on the readings' clock ignores it."""
        return [] if self.readings_clock or self.state.ended else self.step(engine.Tick(now))

    def reading(self, reading: engine.Reading) -> list[engine.AlertEvent]:
        if not self.readings_clock:
            return self.step(reading)
        events: list[engine.AlertEvent] = []
        if self.last_t is not None:
            second = math.floor(self.last_t) + 1
            while second < reading.t:
                events += self._dose_before(second)
                events += self.step(engine.Tick(float(second)))
                second += 1
        events += self._dose_before(reading.t)
        events += self.step(reading)
        self.last_t = reading.t if self.last_t is None else max(self.last_t, reading.t)
        return events

    def dose(self, t: float) -> list[engine.AlertEvent]:
        if self.readings_clock and (self.last_t is None or t >= self.last_t):
            self.pending_dose = t
            self.dirty = True
            return []
        return self.step(engine.DoseMarked(t))

    def device(self, message: dict[str, Any], now: float) -> list[engine.AlertEvent]:
        """A device connected, disconnected or had a reading rejected."""
        if self.readings_clock:
            now = self.last_t if self.last_t is not None else self.state.now
        kind = message["type"]
        code = str(message.get("code", "")) if kind == "rejected" else None
        item: engine.Input
        if kind == "connected":
            item = engine.DeviceConnected(now)
        elif kind == "disconnected":
            item = engine.DeviceDisconnected(now)
        else:
            item = engine.ReadingRejected(now, code or "")
        events = self.step(item)
        # Stored with the state that saw it: an export replays the session from these.
        self.monitor_inputs.append(MonitorInput(now, kind, code, self.last_reading_id))
        return events

    def observation(self, message: dict[str, Any]) -> list[engine.AlertEvent]:
        """A nurse's observation (its payload), at the time it was observed; on the readings'
        clock at that clock's present, as an acknowledgement is."""
        if self.readings_clock:
            t = self.last_t if self.last_t is not None else self.state.now
        else:
            observed = epoch(message["at"])
            assert observed is not None
            t = observed
        self.last_observation_id = max(self.last_observation_id, int(message["id"]))
        return self.step(engine_observation(message, t))

    def _dose_before(self, t: float) -> list[engine.AlertEvent]:
        if self.pending_dose is None or t <= self.pending_dose:
            return []
        dose, self.pending_dose = self.pending_dose, None
        return self.step(engine.DoseMarked(dose))

    def change_rules(self, rules: engine.RuleSet) -> None:
        """New per-patient limits: the same state under the new rule set."""
        self.change_setup(replace(self.state.setup, rules=rules))

    def change_nibp_cycle(self, cycle_s: float | None) -> bool:
        """The session's NIBP interval changed (None: not set): the same state under the new
        set-up. False when it is the one the engine already has."""
        if cycle_s == self.state.setup.nibp_cycle_s:
            return False
        self.change_setup(replace(self.state.setup, nibp_cycle_s=cycle_s))
        return True

    def change_setup(self, setup: engine.SessionSetup) -> None:
        """A new set-up (rules, NIBP interval, ...): the same state under it."""
        self.state = engine.with_setup(self.state, setup)
        self.dirty = True
        self.setup_stored = False

    def to_snapshot(self) -> dict[str, Any]:
        """The state without its set-up (``setup_snapshot``), which is stored apart."""
        return {
            "engine": engine.state_to_dict(self.state, with_setup=False),
            "pending_dose": self.pending_dose,
            "last_t": self.last_t,
            "last_observation_id": self.last_observation_id,
        }

    def setup_snapshot(self) -> dict[str, Any]:
        return self.state.setup.to_dict()

    @classmethod
    def from_snapshot(
        cls,
        session_id: int,
        chair_id: int,
        readings_clock: bool,
        data: dict[str, Any],
        setup: dict[str, Any] | None,
        last_reading_id: int,
    ) -> LiveSession:
        """From a stored row; ``setup`` None: a row of the older form, set-up inside ``data``
        (stored anew at the next save)."""
        return cls(
            session_id,
            chair_id,
            engine.state_from_dict(
                data["engine"], engine.SessionSetup.from_dict(setup) if setup else None
            ),
            readings_clock,
            last_reading_id,
            pending_dose=data.get("pending_dose"),
            last_t=data.get("last_t"),
            setup_stored=setup is not None,
            last_observation_id=data.get("last_observation_id", 0),
        )
