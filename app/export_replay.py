"""An exported session run through the alert engine offline, as it ran live.

A live session (the wall clock) ran on the arrival clock: the engine got each reading when it
arrived, whatever its measurement time, a tick once a second, the monitor's events, the dose,
limit changes and acknowledgements as they happened. Its export records all of these, and
this replays them in that order on that clock, so it prints the events the live session
raised, the re-alarms after an acknowledgement included. The live ticker's ticks fall at
instants nobody recorded: here they fall on the whole seconds from the export's ``t0``, so an
event a tick caused (an escalation, a re-alarm, no data) comes at most one tick from its live
time. A session on the readings' clock (a replay) runs on the measurement clock instead, as a
trace does (``app.trace.run_offline``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import alerts as engine
from app.live.feed import LiveSession
from app.wire import VITALS

Apply = Callable[[LiveSession], list[engine.AlertEvent]]
OnNote = Callable[[str], None]
# What the engine got at one instant: the monitor's feed (readings, link events) first, as the
# live runner had those in hand before a request that came in at the same moment.
FEED, REQUEST = 0, 1


def on_arrival_clock(record: dict[str, Any]) -> bool:
    """Whether the export is of a live session with what its arrival-clock replay needs (an
    export made before arrival times were recorded replays on the measurement clock)."""
    clock = (record.get("session") or {}).get("engine_clock", "wall")
    readings = record.get("readings") or []
    has_feed = "monitor_events" in record and "acknowledgements" in record
    arrived = all("received_at" in r and "id" in r for r in readings)
    return clock == "wall" and has_feed and arrived


@dataclass(frozen=True, slots=True)
class _Due:
    """One input of the live session, where it fell on the arrival clock."""

    at: float
    rank: int
    apply: Apply


def replay_export(
    record: dict[str, Any], rules: engine.RuleSet | None = None, on_note: OnNote | None = None
) -> Iterator[dict[str, Any]]:
    """The alert events of an exported live session, as JSON objects (``t_s`` and
    ``measured_t_s`` in seconds from the export's ``t0``), in the order the engine raised
    them. ``rules``: the clinic's rule set when it was not the protocol's defaults.
    ``on_note`` hears of an input that cannot be applied as it was live."""
    session = record["session"]
    protocol = session["protocol"]
    base = rules if rules is not None else engine.default_rules(protocol)
    log = record.get("session_log") or []
    t0 = _epoch(record["t0"])
    live = LiveSession(
        session["id"], session["chair_id"], engine.new_state(_setup(session, log, base))
    )
    timeline = _timeline(record, log, base, on_note)
    # An open session ran on until it was exported: the ticks up to then raised what they did.
    exported = record.get("exported_at")
    until = _epoch(exported) if exported else max([t0, *(due.at for due in timeline)])
    tick = t0 + math.floor(live.state.setup.started_at - t0) + 1
    for due in timeline:
        while tick < due.at:
            yield from _json(live.tick(tick), t0)
            tick += 1
        yield from _json(due.apply(live), t0)
    while tick <= until and not live.state.ended:
        yield from _json(live.tick(tick), t0)
        tick += 1


def _setup(
    session: dict[str, Any], log: list[dict[str, Any]], base: engine.RuleSet
) -> engine.SessionSetup:
    """The set-up the live engine started the session with: watching from when it was opened
    (a session dated back starts then), the limits and cuff cycle it was opened with."""
    started = _epoch(session["started_at"])
    opened = [_epoch(e["at"]) for e in log if e["action"] == "session.start"]
    overrides = _first_from(log, "session.limits", session.get("limit_overrides") or {})
    cycle = _first_from(log, "session.nibp_interval", session.get("nibp_interval_s"))
    return engine.SessionSetup(
        protocol=session["protocol"],
        started_at=max([started, *opened]),
        dose_at=None,
        rules=_with_overrides(base, overrides),
        nibp_cycle_s=cycle,
    )


def _first_from(log: list[dict[str, Any]], action: str, final: Any) -> Any:
    """A setting's value at the session's start: what its first change changed it from."""
    changes = [e for e in log if e["action"] == action]
    return changes[0]["detail"].get("from") if changes else final


def _with_overrides(base: engine.RuleSet, overrides: dict[str, Any]) -> engine.RuleSet:
    return base.with_overrides(overrides) if overrides else base


def _timeline(
    record: dict[str, Any],
    log: list[dict[str, Any]],
    base: engine.RuleSet,
    on_note: OnNote | None,
) -> list[_Due]:
    """Every input of the live session in the order the engine got it."""
    session = record["session"]
    items = _feed(record)
    dose_at = _epoch(session["dose_at"]) if session.get("dose_at") else None
    marked = [_epoch(e["at"]) for e in log if e["action"] == "session.dose"]
    if dose_at is not None:
        # The dose takes effect when the nurse marked it (its time may be given earlier).
        items.append(_Due(max([dose_at, *marked]), REQUEST, _dose(dose_at)))
    for entry in log:
        at, detail = _epoch(entry["at"]), entry.get("detail") or {}
        if entry["action"] == "session.limits":
            items.append(_Due(at, REQUEST, _limits(_with_overrides(base, detail.get("to") or {}))))
        elif entry["action"] == "session.nibp_interval":
            items.append(_Due(at, REQUEST, _nibp_interval(detail.get("to"))))
    for ack in record["acknowledgements"]:
        items.append(_Due(_epoch(ack["at"]), REQUEST, _acknowledge(ack, on_note)))
    for seen in record.get("observations") or []:
        # The engine heard of it when it was entered, as the nurse said it was observed.
        items.append(_Due(_epoch(seen["recorded_at"]), REQUEST, _observe(seen)))
    if session.get("ended_at"):
        ended = _epoch(session["ended_at"])
        items.append(_Due(ended, REQUEST, lambda live: live.step(engine.SessionEnded(ended))))
    return sorted(items, key=lambda d: (d.at, d.rank))  # stable: the feed keeps its order


def _feed(record: dict[str, Any]) -> list[_Due]:
    """The readings in the order the engine got them (their ids), each at its arrival, with
    the monitor's events among them where the engine got those (after ``last_reading_id``)."""
    readings = sorted(record["readings"], key=lambda r: int(r["id"]))
    monitor = list(record["monitor_events"])
    out: list[_Due] = []
    clock = -math.inf

    def add(at: float, apply: Apply) -> None:
        nonlocal clock
        clock = max(clock, at)  # what came later in the feed cannot have come earlier
        out.append(_Due(clock, FEED, apply))

    for reading in readings:
        while monitor and monitor[0]["last_reading_id"] < reading["id"]:
            event = monitor.pop(0)
            add(_epoch(event["at"]), _monitor(event))
        add(_epoch(reading["received_at"]), _reading(reading))
    for event in monitor:
        add(_epoch(event["at"]), _monitor(event))
    return out


def _reading(row: dict[str, Any]) -> Apply:
    vitals = {v: row.get(v) for v in VITALS}
    reading = engine.Reading(_epoch(row["ts"]), **vitals)

    def apply(live: LiveSession) -> list[engine.AlertEvent]:
        live.last_reading_id = int(row["id"])
        return live.reading(reading)

    return apply


def _monitor(event: dict[str, Any]) -> Apply:
    message = {"type": event["event"], "code": event.get("code")}
    at = _epoch(event["at"])
    return lambda live: live.device(message, at)


def _dose(dose_at: float) -> Apply:
    return lambda live: [] if live.dose_known else live.dose(dose_at)


def _limits(rules: engine.RuleSet) -> Apply:
    def apply(live: LiveSession) -> list[engine.AlertEvent]:
        if rules.to_dict() != live.state.setup.rules.to_dict():
            live.change_rules(rules)
        return []

    return apply


def _nibp_interval(cycle_s: float | None) -> Apply:
    def apply(live: LiveSession) -> list[engine.AlertEvent]:
        live.change_nibp_cycle(cycle_s)
        return []

    return apply


def _acknowledge(ack: dict[str, Any], on_note: OnNote | None) -> Apply:
    user = ack.get("user") or "unknown"
    item = engine.Acknowledge(_epoch(ack["at"]), int(ack["alert_no"]), user, ack.get("note"))

    def apply(live: LiveSession) -> list[engine.AlertEvent]:
        try:
            return live.step(item)
        except engine.AcknowledgeError as exc:
            if on_note is not None:
                on_note(f"acknowledgement of alert {item.alert_no} not applied: {exc}")
            return []

    return apply


def _observe(seen: dict[str, Any]) -> Apply:
    return lambda live: live.observation(seen)


def _json(events: list[engine.AlertEvent], t0: float) -> Iterator[dict[str, Any]]:
    for event in events:
        out = event.to_json_dict()
        out["t_s"] = round(event.t - t0, 3)
        if event.measured_t is not None:
            out["measured_t_s"] = round(event.measured_t - t0, 3)
        yield out


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
